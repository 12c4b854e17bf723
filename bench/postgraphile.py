"""The peer: PostGraphile 4 (npm), serving the bench's database as it is, every relation from
cdp's own foreign keys, asked for `me`'s shape with one GraphQL query of its own.

It is installed on demand into var/bench/postgraphile (git-ignored) with `npm install
--prefix`, pinned; without npm or the registry the bench reports it unavailable and goes on.
PostGraphile compiles a document into one SQL statement that builds the JSON in PostgreSQL;
it checks no token and neither decrypts, masks nor audits, so its sealed columns come back as
ciphertext: a speed anchor, not a like-for-like server.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

from bench.report import ROOT
from bench.servers import External

VERSION = "4.14.1"  # the newest PostGraphile 4
FOLDER = ROOT.parent / "var" / "bench" / "postgraphile"
BINARY = FOLDER / "node_modules" / "postgraphile" / "cli.js"

# `me`'s shape (bench/customer.py's ME): the profile, its identities, 10 ledger entries,
# 5 coupons, 20 orders with their items, the tags and the consent choices, with the pages'
# pageInfo. Found by the public id the customer's token names, as cdp finds it.
QUERY = """query Me($publicId: String!) {
  allProfiles(condition: {publicId: $publicId}, first: 1) { nodes {
    publicId tier unionIdCt phoneCt nameCt birthdayCt createdAt addressCt
    identitiesByProfileId(orderBy: ID_ASC) { nodes { channel appId openIdCt linkedAt } }
    pointsLedgersByProfileId(first: 10, orderBy: ID_DESC) {
      nodes { id kind points balanceAfter reason channel createdAt expiresAt }
      pageInfo { hasNextPage endCursor } }
    couponsByProfileId(first: 5, orderBy: ID_DESC) {
      nodes { publicId title kind discountFen percentOff minSpendFen channels validFrom
              validUntil issuedAt redeemedAt }
      pageInfo { hasNextPage endCursor } }
    ordersByProfileId(first: 20, orderBy: [PAID_AT_DESC, ID_DESC]) {
      nodes { publicId channel externalId status itemsFen discountFen shippingFen totalFen
              entryFrom entryParams paidAt shippingAddressCt
              orderItemsByOrderId(orderBy: POSITION_ASC) {
                nodes { sku name quantity unitPriceFen } } }
      pageInfo { hasNextPage endCursor } }
    profileTagsByProfileId(first: 100, orderBy: TAG_ASC) { nodes { tag source taggedAt } }
    consentsByProfileId(orderBy: [PURPOSE_ASC, CHANNEL_ASC]) {
      nodes { purpose channel granted noticeVersion sourceChannel updatedAt } }
  } }
}"""
# What the member of bench.customer.seed_customer has, relation by relation.
EXPECTED = {
    "identitiesByProfileId": 2,
    "pointsLedgersByProfileId": 10,
    "couponsByProfileId": 5,
    "ordersByProfileId": 20,
    "profileTagsByProfileId": 5,
    "consentsByProfileId": 20,
}


def _installed() -> bool:
    manifest = FOLDER / "node_modules" / "postgraphile" / "package.json"
    try:
        return bool(json.loads(manifest.read_text(encoding="utf-8"))["version"] == VERSION)
    except (OSError, ValueError, KeyError):
        return False


def install() -> str | None:
    """None when PostGraphile is ready (installing it first if needed), else why not."""
    if shutil.which("node") is None:
        return "no node"
    if _installed():
        return None
    npm = shutil.which("npm")
    if npm is None:
        return "no npm"
    print(f"bench: installing postgraphile@{VERSION} into {FOLDER}", file=sys.stderr)
    FOLDER.mkdir(parents=True, exist_ok=True)
    command = [npm, "install", "--prefix", str(FOLDER), "--no-audit", "--no-fund"]
    # An unreachable registry must cost the bench seconds, not npm's default of minutes.
    patience = ["--fetch-retries=1", "--fetch-timeout=20000", "--loglevel=error"]
    try:
        done = subprocess.run(
            [*command, *patience, f"postgraphile@{VERSION}"],
            capture_output=True,
            text=True,
            timeout=180,
        )
    except subprocess.TimeoutExpired:
        return "npm install timed out"
    if done.returncode != 0 or not _installed():
        said = done.stderr.strip().splitlines() or ["?"]
        return "npm install failed: " + next((x for x in said if " code " in x), said[0])[:200]
    return None


def server(dsn: str) -> External:
    """PostGraphile on the database `dsn` (the public schema), as its docs advise for
    production: no GraphiQL, no query log, dynamic JSON; its default pool of 10."""

    def command(port: int) -> list[str]:
        return [
            *(shutil.which("node") or "node", str(BINARY)),
            *("--connection", dsn, "--schema", "public"),
            *("--host", "127.0.0.1", "--port", str(port)),
            "--disable-graphiql",
            "--disable-query-log",
            "--dynamic-json",
            "--no-setof-functions-contain-nulls",
            *("--legacy-relations", "omit"),
        ]

    return External(command)


def body(public_id: str) -> str:
    return json.dumps({"query": QUERY, "variables": {"publicId": public_id}})


def check(payload: Mapping[str, Any]) -> None:
    """PostGraphile's answer has the member with every relation's expected count."""
    nodes = payload["data"]["allProfiles"]["nodes"]
    if len(nodes) != 1:
        raise RuntimeError(f"PostGraphile found {len(nodes)} profiles")
    counts = {name: len(nodes[0][name]["nodes"]) for name in EXPECTED}
    if counts != EXPECTED:
        raise RuntimeError(f"PostGraphile answered {counts}, not {EXPECTED}")
    items = [len(o["orderItemsByOrderId"]["nodes"]) for o in nodes[0]["ordersByProfileId"]["nodes"]]
    if not all(items):
        raise RuntimeError(f"PostGraphile answered orders without items: {items}")
