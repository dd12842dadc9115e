-- The subscription-wide key list's `q` matches anywhere in a key's name, hint or
-- owner's username. Checked row by row that is a scan of every key of the
-- subscription (1.2 s at a million keys); this trigram index (FTS5) finds the keys that
-- can match, and the list query still checks the real condition on each of them, so
-- the index only ever narrows, never widens, what a page shows.
--
-- A row per key, under the key's rowid, with its owner's username copied in; kept by
-- the triggers below. (The database is never VACUUMed, which could renumber rowids of
-- tables without an INTEGER PRIMARY KEY; after one, `DELETE FROM api_keys_search` and
-- the INSERT below rebuild it.)
CREATE VIRTUAL TABLE api_keys_search USING fts5(name, hint, username, tokenize = 'trigram');
INSERT INTO api_keys_search (rowid, name, hint, username)
    SELECT k.rowid, k.name, k.hint, u.username FROM api_keys k JOIN users u ON u.id = k.user_id;

CREATE TRIGGER api_keys_search_insert AFTER INSERT ON api_keys BEGIN
    INSERT INTO api_keys_search (rowid, name, hint, username)
        SELECT new.rowid, new.name, new.hint, u.username FROM users u WHERE u.id = new.user_id;
END;
CREATE TRIGGER api_keys_search_delete AFTER DELETE ON api_keys BEGIN
    DELETE FROM api_keys_search WHERE rowid = old.rowid;
END;
CREATE TRIGGER api_keys_search_update AFTER UPDATE OF name, hint ON api_keys BEGIN
    UPDATE api_keys_search SET name = new.name, hint = new.hint WHERE rowid = new.rowid;
END;
CREATE TRIGGER api_keys_search_username AFTER UPDATE OF username ON users BEGIN
    UPDATE api_keys_search SET username = new.username
        WHERE rowid IN (SELECT rowid FROM api_keys WHERE user_id = new.id);
END;
