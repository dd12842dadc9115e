DROP INDEX users_username_trgm;
DROP INDEX api_keys_hint_trgm;
DROP INDEX api_keys_name_trgm;
