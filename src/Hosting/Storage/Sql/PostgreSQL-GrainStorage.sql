-- Granary: grain state schema for one PostgreSQL shard.
--
-- Granary applies this script at silo start-up to every database that holds grain
-- state (each shard of the sharded storage), before the Orleans ADO.NET grain storage
-- provider (Microsoft.Orleans.Persistence.AdoNet, Invariant "Npgsql") initialises.
-- It is written for that provider's contract, not copied from the Orleans repository:
--
--   * At start-up the provider reads its SQL from table OrleansQuery, rows
--     WriteToStorageKey, ReadFromStorageKey and ClearStorageKey (required) and
--     DeleteStorageKey (required when DeleteStateOnClear is set). Query texts are
--     cached per silo, so a change here takes effect when silos restart.
--   * Parameters it binds (typed by Npgsql): @GrainIdHash int4, @GrainIdN0 int8,
--     @GrainIdN1 int8, @GrainTypeHash int4, @GrainTypeString text (the state name),
--     @GrainIdExtensionString text (NULL when the key has no string part),
--     @ServiceId text, @GrainStateVersion int4 (the ETag; NULL when the grain has no
--     stored row) and, for writes, @PayloadBinary bytea.
--   * Read returns at most one row with columns PayloadBinary and Version. A NULL
--     payload means "no state" (RecordExists = false) but the version still becomes
--     the grain's ETag.
--   * Write, Clear and Delete return one value, the new version. The provider raises
--     InconsistentStateException when that value is NULL, empty or equal to the
--     ETag it sent, i.e. when the statement changed nothing. So every statement
--     here matches a row only if its version equals @GrainStateVersion, and an
--     insert (ETag NULL) succeeds only if no row exists yet.
--   * Delete removes the row and returns (old version + 1), which differs from the
--     ETag; the provider then sets the grain's ETag to NULL.
--
-- The script is idempotent and safe to run from several silos at once: it runs in one
-- transaction that first takes a transaction-scoped advisory lock, so concurrent
-- appliers run one after another, and a re-run leaves tables, indexes, stored queries
-- and data as they were (the function is rewritten with the same body). It is plain
-- SQL (no psql meta-commands) with its own BEGIN/COMMIT: send it as one command
-- through Npgsql outside any transaction of the caller, or apply it with
-- `psql -v ON_ERROR_STOP=1 -f`.

BEGIN;

-- Keep re-runs quiet: "already exists, skipping" notices are expected.
SET LOCAL client_min_messages = warning;

-- Key 0x6772616E61727931 spells 'granary1': serialises concurrent schema appliers.
SELECT pg_advisory_xact_lock(7454127459960781105);

-- Operational queries, looked up by key by the provider. Other Orleans ADO.NET
-- components may share this table; only the four rows below belong to this script.
CREATE TABLE IF NOT EXISTS OrleansQuery
(
    QueryKey  varchar(64) NOT NULL,
    QueryText text        NOT NULL,
    CONSTRAINT OrleansQuery_Key PRIMARY KEY (QueryKey)
);

-- One row per (service, grain id, state name). Column names are ours; the provider
-- only sees them through the queries stored in OrleansQuery.
CREATE TABLE IF NOT EXISTS granary_grain_state
(
    service_id          text        NOT NULL,
    grain_id_hash       integer     NOT NULL,
    grain_id_n0         bigint      NOT NULL,
    grain_id_n1         bigint      NOT NULL,
    grain_id_extension  text        NULL,
    grain_type_hash     integer     NOT NULL,
    grain_type          text        NOT NULL,
    payload             bytea       NULL,
    version             integer     NOT NULL,
    modified_on         timestamptz NOT NULL DEFAULT now()
);

-- A state of up to about 8 kB stays in its row as written. Participants of transactions keep
-- their recent outcomes in their state (a few kB under load) and are rewritten on every
-- prepare and commit: with the default threshold (about 2 kB) PostgreSQL compressed each new
-- version and, when it was still too long, wrote it to the TOAST table (new chunks, their
-- index entries, the old ones left for vacuum), which cost it about a fifth of its CPU per
-- transfer. Set only when different, so a re-run changes nothing.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_class
                    WHERE oid = 'granary_grain_state'::regclass
                      AND 'toast_tuple_target=8160' = ANY (coalesce(reloptions, '{}'))) THEN
        ALTER TABLE granary_grain_state SET (toast_tuple_target = 8160);
    END IF;
END
$$;

-- Enforces one row per identity, so two activations racing to create the same state
-- cannot both insert (the loser's INSERT ... ON CONFLICT DO NOTHING affects 0 rows).
-- The strings go through md5 so that the key stays small whatever their length; each
-- string is length-prefixed so that no two different triples give the same input, and
-- a NULL extension is kept distinct from an empty one. The hash and numeric columns
-- lead, so the same index serves the lookups of the queries below.
CREATE UNIQUE INDEX IF NOT EXISTS granary_grain_state_identity
    ON granary_grain_state
    (
        grain_id_hash,
        grain_type_hash,
        grain_id_n0,
        grain_id_n1,
        md5(
            length(service_id)::text || ':' || service_id || '|' ||
            length(grain_type)::text || ':' || grain_type || '|' ||
            COALESCE(length(grain_id_extension)::text || ':' || grain_id_extension, '-')
        )
    );

-- When each periodic maintenance task of the silos (such as the sweep of old transaction decision
-- records) last finished a pass over this database and service, so that a pass runs once per
-- interval whatever the number of silos, and the block of granary_grain_state where the next pass
-- starts (a pass reads part of the table and the next one goes on from there).
CREATE TABLE IF NOT EXISTS granary_maintenance
(
    service_id   text        NOT NULL,
    task         text        NOT NULL,
    last_pass    timestamptz NOT NULL,
    cursor_block bigint      NOT NULL DEFAULT 0,
    CONSTRAINT granary_maintenance_key PRIMARY KEY (service_id, task)
);
ALTER TABLE granary_maintenance ADD COLUMN IF NOT EXISTS cursor_block bigint NOT NULL DEFAULT 0;

-- Create-or-update with optimistic concurrency. Returns the new version, or NULL when
-- nothing was written: the row already existed (for an insert) or its version was not
-- p_expected_version (for an update). The provider turns NULL into
-- InconsistentStateException.
CREATE OR REPLACE FUNCTION granary_write_grain_state(
    p_grain_id_hash      integer,
    p_grain_id_n0        bigint,
    p_grain_id_n1        bigint,
    p_grain_type_hash    integer,
    p_grain_type         text,
    p_grain_id_extension text,
    p_service_id         text,
    p_expected_version   integer,
    p_payload            bytea)
    RETURNS integer
    LANGUAGE plpgsql
    VOLATILE
AS $body$
DECLARE
    v_new_version integer;
BEGIN
    IF p_expected_version IS NULL THEN
        -- The grain has never seen a stored row: create it at version 1.
        INSERT INTO granary_grain_state AS s
            (service_id, grain_id_hash, grain_id_n0, grain_id_n1, grain_id_extension,
             grain_type_hash, grain_type, payload, version, modified_on)
        VALUES
            (p_service_id, p_grain_id_hash, p_grain_id_n0, p_grain_id_n1, p_grain_id_extension,
             p_grain_type_hash, p_grain_type, p_payload, 1, now())
        ON CONFLICT DO NOTHING
        RETURNING s.version INTO v_new_version;
    ELSE
        -- Compare-and-set on the version. A concurrent writer holding the same version
        -- waits for the row lock, re-checks the predicate and then matches nothing.
        UPDATE granary_grain_state AS s
           SET payload     = p_payload,
               version     = s.version + 1,
               modified_on = now()
         WHERE s.grain_id_hash   = p_grain_id_hash
           AND s.grain_type_hash = p_grain_type_hash
           AND s.grain_id_n0     = p_grain_id_n0
           AND s.grain_id_n1     = p_grain_id_n1
           AND s.grain_type      = p_grain_type
           AND s.service_id      = p_service_id
           AND s.grain_id_extension IS NOT DISTINCT FROM p_grain_id_extension
           AND s.version         = p_expected_version
        RETURNING s.version INTO v_new_version;
    END IF;

    RETURN v_new_version;
END;
$body$;

-- The provider's queries. ON CONFLICT ... WHERE leaves a row untouched when its text
-- is already current, so a re-run writes nothing.
INSERT INTO OrleansQuery AS q (QueryKey, QueryText)
VALUES
(
    'WriteToStorageKey',
    $query$
    SELECT granary_write_grain_state(
        @GrainIdHash, @GrainIdN0, @GrainIdN1, @GrainTypeHash, @GrainTypeString,
        @GrainIdExtensionString, @ServiceId, @GrainStateVersion, @PayloadBinary
    ) AS "NewGrainStateVersion"
    $query$
),
(
    'ReadFromStorageKey',
    $query$
    SELECT s.payload AS "PayloadBinary",
           s.version AS "Version",
           s.modified_on AS "ModifiedOn"
      FROM granary_grain_state AS s
     WHERE s.grain_id_hash   = @GrainIdHash
       AND s.grain_type_hash = @GrainTypeHash
       AND s.grain_id_n0     = @GrainIdN0
       AND s.grain_id_n1     = @GrainIdN1
       AND s.grain_type      = @GrainTypeString
       AND s.service_id      = @ServiceId
       AND s.grain_id_extension IS NOT DISTINCT FROM @GrainIdExtensionString
    $query$
),
(
    -- Keeps the row and bumps its version but drops the payload: the state reads as
    -- absent, and an activation that never saw the row cannot re-create it blindly.
    'ClearStorageKey',
    $query$
    UPDATE granary_grain_state AS s
       SET payload     = NULL,
           version     = s.version + 1,
           modified_on = now()
     WHERE s.grain_id_hash   = @GrainIdHash
       AND s.grain_type_hash = @GrainTypeHash
       AND s.grain_id_n0     = @GrainIdN0
       AND s.grain_id_n1     = @GrainIdN1
       AND s.grain_type      = @GrainTypeString
       AND s.service_id      = @ServiceId
       AND s.grain_id_extension IS NOT DISTINCT FROM @GrainIdExtensionString
       AND s.version         = @GrainStateVersion
    RETURNING s.version AS "NewGrainStateVersion"
    $query$
),
(
    -- Used when the provider runs with DeleteStateOnClear = true. Returns the deleted
    -- version + 1 so the provider sees a changed version; no row means a stale ETag.
    'DeleteStorageKey',
    $query$
    DELETE FROM granary_grain_state AS s
     WHERE s.grain_id_hash   = @GrainIdHash
       AND s.grain_type_hash = @GrainTypeHash
       AND s.grain_id_n0     = @GrainIdN0
       AND s.grain_id_n1     = @GrainIdN1
       AND s.grain_type      = @GrainTypeString
       AND s.service_id      = @ServiceId
       AND s.grain_id_extension IS NOT DISTINCT FROM @GrainIdExtensionString
       AND s.version         = @GrainStateVersion
    RETURNING s.version + 1 AS "NewGrainStateVersion"
    $query$
)
ON CONFLICT (QueryKey) DO UPDATE
    SET QueryText = EXCLUDED.QueryText
    WHERE q.QueryText IS DISTINCT FROM EXCLUDED.QueryText;

COMMIT;
