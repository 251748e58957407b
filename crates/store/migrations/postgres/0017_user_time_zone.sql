-- Each user's time zone for the pages (an IANA name such as Asia/Tokyo); none takes the
-- instance's.
ALTER TABLE users ADD COLUMN time_zone TEXT;
