-- STIX as peers posted it, and ids that are each instance's own.
--
-- The text of each object version's `modified` (else `created`) exactly as it was posted, which
-- TAXII gives back as `version` in statuses, manifests and version lists; NULL where the version
-- is the time the object was added (observables with neither property).
ALTER TABLE stix_objects ADD COLUMN version_text TEXT;

-- Deterministic STIX ids are named in a namespace of each instance's own, made at random when
-- the instance first needs it. An instance that already exported STIX keeps the namespace every
-- instance used before, so the ids it gave out do not change.
INSERT INTO instance_secrets (name, secret)
SELECT 'stix-namespace', '6c1f5b0e9a7d4f3e8d2c1b0a9f8e7d6c00000000000000000000000000000000'
WHERE EXISTS (SELECT 1 FROM alerts) OR EXISTS (SELECT 1 FROM reports);
