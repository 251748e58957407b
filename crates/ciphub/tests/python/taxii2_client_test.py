"""The OASIS TAXII client (PyPI taxii2-client 2.3.0) against a running ciphub.

Run by the Rust test `taxii2_client_drives_ciphub` (crates/ciphub/tests/cli/taxii.rs), which
starts `ciphub serve --demo` and passes:
  CIPHUB_TAXII_URL     the discovery URL (http://127.0.0.1:PORT/taxii2/)
  CIPHUB_TAXII_USER    a user that may share (HTTP basic: user name and API token)
  CIPHUB_TAXII_TOKEN   that user's API token
  CIPHUB_TAXII_OTHER_USER / CIPHUB_TAXII_OTHER_TOKEN   a user of another organization
"""

import os
import sys
import unittest
import uuid

from taxii2client.common import TAXIIServiceException
from taxii2client.v21 import ApiRoot, Server, as_pages

URL = os.environ["CIPHUB_TAXII_URL"]
USER = os.environ["CIPHUB_TAXII_USER"]
TOKEN = os.environ["CIPHUB_TAXII_TOKEN"]
OTHER_USER = os.environ["CIPHUB_TAXII_OTHER_USER"]
OTHER_TOKEN = os.environ["CIPHUB_TAXII_OTHER_TOKEN"]

GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
AMBER = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"
RUN = uuid.uuid4().hex[:8]


def indicator(n, modified="2026-01-01T00:00:00.000Z", marking=GREEN):
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": "indicator--%s" % uuid.uuid5(uuid.NAMESPACE_URL, "%s-%d" % (RUN, n)),
        "created": "2026-01-01T00:00:00.000Z",
        "modified": modified,
        "name": "python client indicator %d" % n,
        "pattern": "[ipv4-addr:value = '192.0.2.%d']" % (n % 250),
        "pattern_type": "stix",
        "valid_from": "2026-01-01T00:00:00Z",
        "object_marking_refs": [marking],
    }


def objects_of(pages):
    out = []
    for page in pages:
        out.extend(page.get("objects", []))
    return out


class Taxii2ClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server(URL, user=USER, password=TOKEN)
        cls.api_root = cls.server.default
        cls.community = next(c for c in cls.api_root.collections if c.alias == "community")
        # Thirty indicators, one of them in three versions, one AMBER.
        objects = [indicator(n) for n in range(30)]
        objects[29] = indicator(29, marking=AMBER)
        objects.append(indicator(0, "2026-02-01T00:00:00.000Z"))
        objects.append(indicator(0, "2026-03-01T00:00:00.000Z"))
        cls.ids = sorted({o["id"] for o in objects})
        cls.status = cls.community.add_objects({"objects": objects})

    def test_01_discovery(self):
        self.assertEqual(self.server.title, "ciphub TAXII 2.1")
        self.assertEqual(len(self.server.api_roots), 1)
        self.assertIn("application/taxii+json;version=2.1", self.api_root.versions)
        self.assertGreater(self.api_root.max_content_length, 0)

    def test_02_collections(self):
        by_alias = {c.alias: c for c in self.api_root.collections}
        self.assertEqual(set(by_alias), {"community", "alerts"})
        self.assertTrue(by_alias["community"].can_write)
        self.assertFalse(by_alias["alerts"].can_write)
        self.assertTrue(by_alias["alerts"].can_read)
        self.assertIn("application/stix+json;version=2.1", by_alias["community"].media_types)

    def test_03_add_objects_and_poll_status(self):
        self.assertEqual(self.status.status, "complete")
        self.assertEqual(self.status.total_count, 32)
        self.assertEqual(self.status.success_count, 32)
        self.assertEqual(self.status.failure_count, 0)
        polled = self.api_root.get_status(self.status.id)
        self.assertEqual(polled.id, self.status.id)
        self.assertEqual(polled.success_count, 32)
        self.assertEqual(polled.status, "complete")
        # A broken object is reported in the status, not lost silently.
        bad = indicator(99)
        del bad["pattern"]
        status = self.community.add_objects({"objects": [bad]})
        self.assertEqual(status.failure_count, 1)
        self.assertIn("pattern", status.failures[0]["message"])

    def test_04_paging_with_every_filter(self):
        mine = ",".join(self.ids)
        pages = list(as_pages(self.community.get_objects, per_request=7, id=mine))
        self.assertEqual(len(pages), 5)
        got = objects_of(pages)
        self.assertEqual(len(got), 30)
        self.assertEqual(len({o["id"] for o in got}), 30)
        first_id = indicator(0)["id"]
        latest = [o for o in got if o["id"] == first_id][0]
        self.assertEqual(latest["modified"], "2026-03-01T00:00:00.000Z")
        every = objects_of(as_pages(self.community.get_objects, per_request=10, id=mine, version="all"))
        self.assertEqual(len(every), 32)
        first = self.community.get_objects(id=first_id, version="first")["objects"]
        self.assertEqual([o["modified"] for o in first], ["2026-01-01T00:00:00.000Z"])
        at = self.community.get_objects(id=first_id, version="2026-02-01T00:00:00.000Z")["objects"]
        self.assertEqual([o["modified"] for o in at], ["2026-02-01T00:00:00.000Z"])
        typed = objects_of(as_pages(self.community.get_objects, per_request=100, type="indicator", id=mine))
        self.assertEqual(len(typed), 30)
        self.assertEqual(self.community.get_objects(type="malware", id=mine).get("objects", []), [])
        self.assertEqual(len(self.community.get_objects(spec_version="2.1", id=mine)["objects"]), 30)
        self.assertEqual(self.community.get_objects(spec_version="2.0", id=mine).get("objects", []), [])
        # added_after: strictly after the last object's date_added gives nothing more.
        resp = self.community._conn.session.get(
            self.community.objects_url,
            headers={"Accept": "application/taxii+json;version=2.1"},
            params={"match[id]": mine, "limit": "1000"},
        )
        last_added = resp.headers["X-TAXII-Date-Added-Last"]
        self.assertEqual(self.community.get_objects(id=mine, added_after=last_added).get("objects", []), [])
        self.assertEqual(
            len(self.community.get_objects(id=mine, added_after="2000-01-01T00:00:00Z")["objects"]), 30
        )

    def test_05_manifest(self):
        mine = ",".join(self.ids)
        pages = list(as_pages(self.community.get_manifest, per_request=8, id=mine, version="all"))
        records = [r for p in pages for r in p.get("objects", [])]
        self.assertEqual(len(records), 32)
        for r in records:
            self.assertEqual(r["media_type"], "application/stix+json;version=2.1")
            self.assertTrue(r["date_added"].endswith("Z"))
            self.assertIn(r["id"], self.ids)

    def test_06_object_and_versions(self):
        first_id = indicator(0)["id"]
        one = self.community.get_object(first_id)["objects"]
        self.assertEqual(len(one), 1)
        versions = self.community.object_versions(first_id)["versions"]
        self.assertEqual(
            versions,
            # Each version exactly as it was posted.
            ["2026-01-01T00:00:00.000Z", "2026-02-01T00:00:00.000Z", "2026-03-01T00:00:00.000Z"],
        )

    def test_07_another_organization_sees_what_tlp_allows(self):
        other = ApiRoot(self.api_root.url, user=OTHER_USER, password=OTHER_TOKEN)
        community = next(c for c in other.collections if c.alias == "community")
        got = objects_of(as_pages(community.get_objects, per_request=50, id=",".join(self.ids)))
        self.assertEqual(len(got), 29)
        self.assertNotIn(indicator(29)["id"], {o["id"] for o in got})
        with self.assertRaises(Exception):
            community.get_object(indicator(29)["id"])

    def test_08_delete(self):
        gone = indicator(5)["id"]
        self.community.delete_object(gone)
        with self.assertRaises(Exception):
            self.community.get_object(gone)

    def test_09_wrong_credentials_are_refused(self):
        with self.assertRaises(Exception):
            Server(URL, user=USER, password="not-a-token").title


if __name__ == "__main__":
    result = unittest.main(argv=[sys.argv[0], "-v"], exit=False).result
    sys.exit(0 if result.wasSuccessful() else 1)
