"""Bucket default encryption configuration (PutBucketEncryption): parse, store, render."""

from __future__ import annotations

import json
from dataclasses import dataclass

from strongroom.s3.errors import S3Error
from strongroom.s3.xmlio import document, element, parse, text

AES256 = "AES256"
AWS_KMS = "aws:kms"


@dataclass(frozen=True, slots=True)
class EncryptionRule:
    algorithm: str  # AES256 (SSE-S3) or aws:kms (SSE-KMS)
    kms_key_id: str = ""

    def dump(self) -> str:
        return json.dumps({"algorithm": self.algorithm, "kms_key_id": self.kms_key_id})


def load(raw: str) -> EncryptionRule:
    data = json.loads(raw)
    return EncryptionRule(str(data["algorithm"]), str(data.get("kms_key_id", "")))


def parse_config(body: bytes) -> EncryptionRule:
    root = parse(body)
    if root.tag != "ServerSideEncryptionConfiguration":
        raise S3Error("MalformedXML")
    rules = root.findall("Rule")
    if len(rules) != 1:
        raise S3Error("MalformedXML", "Exactly one encryption rule is allowed")
    default = rules[0].find("ApplyServerSideEncryptionByDefault")
    if default is None:
        raise S3Error("MalformedXML")
    algorithm = text(default, "SSEAlgorithm")
    key_id = text(default, "KMSMasterKeyID").strip()
    if algorithm == AES256:
        if key_id:
            raise S3Error("InvalidArgument", "KMSMasterKeyID is only allowed with aws:kms")
        return EncryptionRule(AES256)
    if algorithm == AWS_KMS:
        key_id = key_id.removeprefix("arn:aws:kms:")
        return EncryptionRule(AWS_KMS, key_id)
    raise S3Error("MalformedXML", "SSEAlgorithm must be AES256 or aws:kms")


def render(rule: EncryptionRule) -> bytes:
    inner = element("SSEAlgorithm", rule.algorithm)
    if rule.kms_key_id:
        inner += element("KMSMasterKeyID", rule.kms_key_id)
    body = (
        "<Rule><ApplyServerSideEncryptionByDefault>"
        + inner
        + "</ApplyServerSideEncryptionByDefault></Rule>"
    )
    return document("ServerSideEncryptionConfiguration", [body])
