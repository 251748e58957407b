-- Trust: audit entries about another organization's users are read by that organization too,
-- and restricted entries carry a secret salt so that their hashes cannot be reproduced by
-- guessing the hidden actor and detail.
ALTER TABLE audit_log ADD COLUMN subject_org TEXT;
ALTER TABLE audit_log ADD COLUMN salt TEXT;
CREATE INDEX audit_log_subject ON audit_log (subject_org, seq);

-- What an organization's admins are told about its own people: a user given the secretariat
-- role (who then reads anonymous reporters), or a user created by another organization.
CREATE TABLE security_notices (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL REFERENCES organizations (id),
    -- secretariat-granted or created-by-outsider.
    kind TEXT NOT NULL,
    user_name TEXT NOT NULL,
    actor_user TEXT,
    actor_org TEXT,
    created_us INTEGER NOT NULL
);
CREATE INDEX security_notices_org ON security_notices (org_id, id);
