using System.Text.RegularExpressions;

namespace Granary.Caching;

/// <summary>
/// The system of record a cache fronts (e.g. a PostgreSQL <c>products</c> table): rows of
/// (key, value, version). Writes are version-checked: a write at a version not above the stored one
/// is refused, so an older write arriving late never overwrites a newer one. A delete is a tombstone
/// row (value null) so that its version keeps ordering later writes.
/// </summary>
public interface ICacheBackingStore
{
    /// <summary>What the store is, for messages (e.g. "PostgreSQL 127.0.0.1:5432/catalogue").</summary>
    string Description { get; }

    /// <summary>The row of <paramref name="key"/>, or null when there is none; a tombstone has a null value.</summary>
    Task<BackingRecord?> LoadAsync(string table, string key, CancellationToken cancellationToken);

    /// <summary>Writes <paramref name="value"/> (null: delete) at <paramref name="version"/> unless the row is already at that version or newer.</summary>
    Task<BackingWriteResult> WriteAsync(string table, string key, string? value, long version, CancellationToken cancellationToken);
}

/// <summary>A stored row: value (null for a tombstone) and version.</summary>
[GenerateSerializer, Alias("granary.caching.backing-record")]
public sealed record BackingRecord([property: Id(0)] string? Value, [property: Id(1)] long Version);

/// <summary>Outcome of a version-checked write: stored, or refused with the version the row holds.</summary>
public sealed record BackingWriteResult(bool Stored, long CurrentVersion);

/// <summary>
/// Checks backing table names. They become SQL identifiers (always quoted, in a schema of the cache's own),
/// so only plain lower-case identifiers are taken: <c>[a-z_][a-z0-9_]*</c>, at most 63 characters (PostgreSQL's
/// identifier limit), not starting with <c>pg_</c> (the prefix of system catalogs). Reserved words such as
/// <c>select</c> are fine, being quoted.
/// </summary>
public static partial class BackingTableName
{
    /// <summary>What a valid name looks like, for error messages.</summary>
    public const string Rule = "a lower-case SQL identifier ([a-z_][a-z0-9_]*, at most 63 characters, not starting with 'pg_')";

    /// <summary>True for a valid backing table name.</summary>
    public static bool IsValid(string? name) =>
        name is not null && Pattern().IsMatch(name) && !name.StartsWith("pg_", StringComparison.Ordinal);

    /// <summary>Returns <paramref name="name"/>, or throws <see cref="Errors.InvalidRequestException"/> when it is not valid.</summary>
    public static string Require(string? name, string parameter = "backingTable") =>
        IsValid(name) ? name! : throw new Errors.InvalidRequestException(parameter, $"'{name}' is not {Rule}");

    [GeneratedRegex("^[a-z_][a-z0-9_]{0,62}$", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();
}

/// <summary>
/// <see cref="ICacheBackingStore"/> in process memory, shared by everything in the process
/// (<see cref="Shared"/>): the stand-in for a PostgreSQL table when none is configured (embedded silo,
/// demo). Lost with the process.
/// </summary>
public sealed class MemoryCacheBackingStore : ICacheBackingStore
{
    private readonly Lock _lock = new();
    private readonly Dictionary<(string Table, string Key), BackingRecord> _rows = [];
    private long _loads;
    private long _writes;

    /// <summary>The process-wide instance the silo registers when no backing database is configured.</summary>
    public static MemoryCacheBackingStore Shared { get; } = new();

    /// <inheritdoc/>
    public string Description => "in-memory table (no Granary:Caching:BackingConnectionString configured)";

    /// <summary>Loads served.</summary>
    public long Loads => Interlocked.Read(ref _loads);

    /// <summary>Writes attempted.</summary>
    public long Writes => Interlocked.Read(ref _writes);

    /// <inheritdoc/>
    public Task<BackingRecord?> LoadAsync(string table, string key, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _loads);
        lock (_lock)
        {
            return Task.FromResult(_rows.GetValueOrDefault((table, key)));
        }
    }

    /// <inheritdoc/>
    public Task<BackingWriteResult> WriteAsync(string table, string key, string? value, long version, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _writes);
        lock (_lock)
        {
            if (_rows.TryGetValue((table, key), out var row) && row.Version >= version)
            {
                return Task.FromResult(new BackingWriteResult(false, row.Version));
            }

            _rows[(table, key)] = new BackingRecord(value, version);
            return Task.FromResult(new BackingWriteResult(true, version));
        }
    }
}
