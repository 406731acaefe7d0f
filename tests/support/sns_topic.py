"""An SNS topic in the emulator with an SQS queue subscribed to it: what a test reads to see an alert."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

import boto3


@dataclass(frozen=True)
class SubscribedTopic:
    """A topic and the queue that receives every message published to it."""

    arn: str
    queue_url: str
    sqs: object

    @classmethod
    def create(cls, endpoint_url: str, region: str = "us-east-1") -> SubscribedTopic:
        sns = boto3.client("sns", endpoint_url=endpoint_url, region_name=region)
        sqs = boto3.client("sqs", endpoint_url=endpoint_url, region_name=region)
        name = f"popseg-alerts-{uuid.uuid4().hex[:8]}"
        arn = sns.create_topic(Name=name)["TopicArn"]
        queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)
        return cls(arn=arn, queue_url=queue_url, sqs=sqs)

    def messages(self) -> list[dict]:
        """Every notification delivered so far ({"Subject", "Message", ...}), consumed from the queue."""
        found = []
        while batch := self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages"):
            for item in batch:
                found.append(json.loads(item["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=item["ReceiptHandle"])
        return found
