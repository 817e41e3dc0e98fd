-- Tokens, codes, users, customers and rate limits. {schema} is replaced by
-- the quoted schema name.

-- One row per issued link, keyed by SHA-256 of the link secret (the secret
-- itself is never stored). Consuming a link deletes its row.
CREATE TABLE {schema}.tokens (
    hash       bytea       PRIMARY KEY,
    user_id    text        NOT NULL,
    email      text        NOT NULL,
    org_id     text        NOT NULL,
    origin     text        NOT NULL,
    next       text        NOT NULL,
    code_mac   bytea,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX tokens_expires_at ON {schema}.tokens (expires_at);

-- The one active code of an address, as HMAC(server key, email || code),
-- with a copy of its token's data: a code still signs in after its link
-- was used. A code that matched or ran out of tries stays, dead, until it
-- expires.
CREATE TABLE {schema}.codes (
    email      text        PRIMARY KEY,
    mac        bytea       NOT NULL,
    tries      integer     NOT NULL DEFAULT 0,
    used       boolean     NOT NULL DEFAULT false,
    token_hash bytea       NOT NULL,
    user_id    text        NOT NULL,
    org_id     text        NOT NULL,
    origin     text        NOT NULL,
    next       text        NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX codes_expires_at ON {schema}.codes (expires_at);

CREATE TABLE {schema}.users (
    id                text        PRIMARY KEY,
    org_id            text        NOT NULL,
    email             text        NOT NULL,
    first_name        text        NOT NULL DEFAULT '',
    last_name         text        NOT NULL DEFAULT '',
    phone             text        NOT NULL DEFAULT '',
    language_code     text        NOT NULL DEFAULT '',
    mail_permission   boolean     NOT NULL DEFAULT false,
    secret_key_digest bytea,
    created_at        timestamptz NOT NULL,
    UNIQUE (org_id, email)
);

CREATE TABLE {schema}.customers (
    id     text PRIMARY KEY,
    email  text NOT NULL,
    org_id text NOT NULL
);

-- GCRA state: each key's theoretical arrival time in Unix nanoseconds on
-- the database clock. UNLOGGED: no WAL, and a crash empties it, which only
-- gives every key its full burst back. No index on tat, so that updating
-- it stays a HOT update; the sweeper scans.
CREATE UNLOGGED TABLE {schema}.rate_limits (
    key text   PRIMARY KEY,
    tat bigint NOT NULL
);

-- gcra decides one event for each of keys (distinct) at once, all or
-- nothing: key i has emission interval intervals[i] and window (burst times
-- interval) windows[i], in nanoseconds; unless every key allows, no key is
-- charged. It returns one row per key, in order: allowed, and in
-- nanoseconds retry_after (0 when allowed) and reset_after.
--
-- One upsert charges every key, locking the rows in key order (so that
-- concurrent batches on shared keys queue instead of deadlocking) and
-- returning each new TAT = max(TAT, now) + interval. An event is allowed
-- when new TAT - window <= now. If one is not, a second statement takes the
-- charges back while the rows are still locked: new TAT - interval is the
-- old TAT, or now for a key whose TAT had passed, which means the same
-- (a full burst). So an allowed batch, the common case, costs one upsert.
CREATE FUNCTION {schema}.gcra(keys text[], intervals bigint[], windows bigint[])
RETURNS TABLE (allowed boolean, retry_after bigint, reset_after bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    now_ns  bigint := (extract(epoch FROM clock_timestamp()) * 1000000000)::bigint;
    tats    bigint[];
    ok      boolean := true;
BEGIN
    WITH charged AS (
        INSERT INTO {schema}.rate_limits AS l (key, tat)
        SELECT u.k, now_ns + u.t FROM unnest(keys, intervals) AS u(k, t) ORDER BY u.k
        ON CONFLICT (key) DO UPDATE SET tat = greatest(l.tat, now_ns) + (EXCLUDED.tat - now_ns)
        RETURNING l.key, l.tat
    )
    SELECT array_agg(c.tat ORDER BY u.i) INTO tats
    FROM unnest(keys) WITH ORDINALITY AS u(k, i) JOIN charged AS c ON c.key = u.k;

    FOR i IN 1..cardinality(keys) LOOP
        allowed := tats[i] - windows[i] <= now_ns;
        IF allowed THEN
            retry_after := 0;
            reset_after := tats[i] - now_ns;
        ELSE
            ok := false;
            retry_after := tats[i] - windows[i] - now_ns;
            reset_after := tats[i] - intervals[i] - now_ns;
        END IF;
        RETURN NEXT;
    END LOOP;

    IF NOT ok THEN
        UPDATE {schema}.rate_limits AS l SET tat = l.tat - u.t
        FROM unnest(keys, intervals) AS u(k, t)
        WHERE l.key = u.k;
    END IF;
END
$$;
