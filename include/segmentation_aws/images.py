"""Where SageMaker's built-in algorithm images are, per region (`image_uri`)."""

from __future__ import annotations

# Built-in algorithm images: one account per region for both `pca` and `kmeans` (tag 1).
IMAGE_ACCOUNTS: dict[str, str] = {
    "af-south-1": "455444449433", "ap-east-1": "286214385809", "ap-northeast-1": "351501993468",
    "ap-northeast-2": "835164637446", "ap-northeast-3": "867004704886", "ap-south-1": "991648021394",
    "ap-south-2": "628508329040", "ap-southeast-1": "475088953585", "ap-southeast-2": "712309505854",
    "ap-southeast-3": "951798379941", "ap-southeast-4": "106583098589", "ca-central-1": "469771592824",
    "ca-west-1": "190319476487", "cn-north-1": "390948362332", "cn-northwest-1": "387376663083",
    "eu-central-1": "664544806723", "eu-central-2": "680994064768", "eu-north-1": "669576153137",
    "eu-south-1": "257386234256", "eu-south-2": "104374241257", "eu-west-1": "438346466558",
    "eu-west-2": "644912444149", "eu-west-3": "749696950732", "il-central-1": "898809789911",
    "me-central-1": "272398656194", "me-south-1": "249704162688", "sa-east-1": "855470959533",
    "us-east-1": "382416733822", "us-east-2": "404615174143", "us-gov-east-1": "237065988967",
    "us-gov-west-1": "226302683700", "us-iso-east-1": "490574956308", "us-isob-east-1": "765400339828",
    "us-isof-east-1": "108575199400", "us-isof-south-1": "124985052026", "us-west-1": "632365934929",
    "us-west-2": "174872318107",
}  # fmt: skip

_DNS_SUFFIXES = {
    "cn-north-1": "amazonaws.com.cn",
    "cn-northwest-1": "amazonaws.com.cn",
    "us-iso-east-1": "c2s.ic.gov",
    "us-isob-east-1": "sc2s.sgov.gov",
    "us-isof-east-1": "csp.hci.ic.gov",
    "us-isof-south-1": "csp.hci.ic.gov",
}
ALGORITHMS = ("pca", "kmeans")


def image_uri(algorithm: str, region: str) -> str:
    """`<account>.dkr.ecr.<region>.<suffix>/<algorithm>:1` for a built-in algorithm."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown built-in algorithm {algorithm!r}; expected one of {ALGORITHMS}")
    if region not in IMAGE_ACCOUNTS:
        raise ValueError(f"SageMaker built-in images are not published for region {region!r}")
    suffix = _DNS_SUFFIXES.get(region, "amazonaws.com")
    return f"{IMAGE_ACCOUNTS[region]}.dkr.ecr.{region}.{suffix}/{algorithm}:1"
