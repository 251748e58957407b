-- Web pages: each user's language (en or ja; the browser's when unset).
ALTER TABLE users ADD COLUMN locale TEXT;
