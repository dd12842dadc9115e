DROP TRIGGER api_keys_search_username;
DROP TRIGGER api_keys_search_update;
DROP TRIGGER api_keys_search_delete;
DROP TRIGGER api_keys_search_insert;
DROP TABLE api_keys_search;
