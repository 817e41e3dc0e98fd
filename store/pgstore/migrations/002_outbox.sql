-- The mail outbox (mailer.Outbox). {schema} is replaced by the quoted
-- schema name.

-- One row per accepted mail of outbox name, until it is delivered (the row
-- is deleted) or dead-lettered (dead, kept sealed with a safe reason). The
-- payload is sealed by the outbox engine; msg_id is the mail's Message-ID,
-- random or the caller's, never an address. due_at (the outbox's clock)
-- says when it may be tried next; a claimed row carries the claim's token
-- and a visibility deadline on the database clock, after which any
-- instance may take it over.
CREATE TABLE {schema}.outbox (
    ref           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text        NOT NULL,
    msg_id        text        NOT NULL,
    attempts      integer     NOT NULL DEFAULT 0,
    accepted_at   timestamptz NOT NULL,
    due_at        timestamptz NOT NULL,
    claim         bigint,
    claimed_until timestamptz,
    dead          boolean     NOT NULL DEFAULT false,
    reason        text,
    sealed        bytea       NOT NULL
);
CREATE INDEX outbox_ready ON {schema}.outbox (name, due_at) WHERE NOT dead;
CREATE INDEX outbox_dead ON {schema}.outbox (name, ref) WHERE dead;
