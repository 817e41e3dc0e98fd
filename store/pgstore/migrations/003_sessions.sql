-- Sessions (store.Sessions). {schema} is replaced by the quoted schema name.

-- One row per session, keyed by its public ID, SessionID(token_hash). Only
-- digests of the session and refresh tokens are stored. previous_refresh
-- holds the most recent rotated-away refresh digests, newest first, to
-- recognise their reuse. A session revoked for reuse gets an idle expiry
-- of the epoch (1970), so it is dead for every query at once and the sweeper
-- deletes it; other revocations delete the row.
CREATE TABLE {schema}.sessions (
    id               text        PRIMARY KEY,
    token_hash       bytea       NOT NULL,
    refresh_hash     bytea,
    previous_refresh bytea[]     NOT NULL DEFAULT '{}',
    user_id          text        NOT NULL,
    org_id           text        NOT NULL,
    email            text        NOT NULL,
    method           text        NOT NULL,
    created_at       timestamptz NOT NULL,
    last_seen_at     timestamptz NOT NULL,
    idle_expires_at  timestamptz NOT NULL,
    expires_at       timestamptz NOT NULL,
    ip               text        NOT NULL,
    user_agent       text        NOT NULL
);
CREATE INDEX sessions_user ON {schema}.sessions (user_id, created_at, id);
CREATE INDEX sessions_deadline ON {schema}.sessions (least(idle_expires_at, expires_at));
