using Granary.Errors;
using Granary.Text;
using Orleans.Storage;

namespace Granary.Server.Storage;

/// <summary>
/// An <see cref="IGrainStorage"/> that forwards each grain's Read/Write/Clear to one inner provider
/// (one PostgreSQL database each) chosen by the consistent hash ring over the grain key. The inner
/// providers keep their own ETag checks, so a stale second activation still gets
/// <see cref="InconsistentStateException"/>. Every read, write and clear goes through the stores'
/// <see cref="StorageRetryPolicy"/> (all three are version-checked, so a repeat never applies twice),
/// and a shard that stays unreachable fails the call with <c>UNAVAILABLE</c>. A grain key that is
/// not storable text (U+0000: the key column is PostgreSQL <c>text</c>) is refused with
/// <c>INVALID_ARGUMENT</c> before any statement, so it can never fail a group-commit batch that
/// carries other grains' writes.
/// </summary>
public sealed class ShardedGrainStorage : IGrainStorage
{
    private readonly ShardRouter _router;
    private readonly IReadOnlyDictionary<string, IGrainStorage> _shards;
    private readonly IReadOnlyDictionary<string, GroupCommitStateWriter> _writers;
    private readonly StorageRetryPolicy _retry;
    private readonly Dictionary<string, Action?> _clearPools = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (string Read, string Write, string Clear)> _names = new(StringComparer.Ordinal);

    /// <summary>
    /// Creates the router over already-built inner providers keyed by shard name; with
    /// <paramref name="writers"/>, writes go through each shard's group-commit writer instead.
    /// <paramref name="retry"/> (default <see cref="StorageRetryPolicy.Default"/>) retries transient
    /// failures; with <paramref name="shardConnectionStrings"/> (in shard order) a broken connection
    /// also drops that shard's idle pooled connections before the next attempt.
    /// </summary>
    public ShardedGrainStorage(
        ShardRouter router,
        IReadOnlyDictionary<string, IGrainStorage> shards,
        IReadOnlyDictionary<string, GroupCommitStateWriter>? writers = null,
        StorageRetryPolicy? retry = null,
        IReadOnlyList<string>? shardConnectionStrings = null)
    {
        ArgumentNullException.ThrowIfNull(router);
        ArgumentNullException.ThrowIfNull(shards);
        for (var i = 0; i < router.ShardCount; i++)
        {
            if (!shards.ContainsKey(StorageNames.Shard(i)))
            {
                throw new ArgumentException($"No storage provider for {StorageNames.Shard(i)}.", nameof(shards));
            }
        }

        _router = router;
        _shards = shards;
        _writers = writers ?? new Dictionary<string, GroupCommitStateWriter>(StringComparer.Ordinal);
        _retry = retry ?? StorageRetryPolicy.Default;
        for (var i = 0; i < router.ShardCount; i++)
        {
            var name = StorageNames.Shard(i);
            _clearPools[name] = shardConnectionStrings is { } cs && i < cs.Count ? StorageRetryPolicy.ClearPoolOf(cs[i]) : null;
            _names[name] = ("grain state read on " + name, "grain state write on " + name, "grain state clear on " + name);
        }
    }

    /// <inheritdoc/>
    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        RequireStorableKey(grainId);
        var shard = _router.ShardFor(grainId);
        var inner = _shards[shard];
        return _retry.ExecuteAsync(_names[shard].Read, _ => new ValueTask(inner.ReadStateAsync(stateName, grainId, grainState)), _clearPools[shard], CancellationToken.None);
    }

    /// <inheritdoc/>
    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        RequireStorableKey(grainId);
        var shard = _router.ShardFor(grainId);
        if (_writers.TryGetValue(shard, out var writer) && GroupCommitStateWriter.Handles(stateName))
        {
            // A write that failed is queued again and goes out with the writes waiting then.
            return _retry.ExecuteAsync(_names[shard].Write, _ => new ValueTask(writer.WriteStateAsync(stateName, grainId, grainState)), writer.ClearIdleConnections, CancellationToken.None);
        }

        var inner = _shards[shard];
        return _retry.ExecuteAsync(_names[shard].Write, _ => new ValueTask(inner.WriteStateAsync(stateName, grainId, grainState)), _clearPools[shard], CancellationToken.None);
    }

    /// <inheritdoc/>
    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        RequireStorableKey(grainId);
        var shard = _router.ShardFor(grainId);
        var inner = _shards[shard];
        return _retry.ExecuteAsync(_names[shard].Clear, _ => new ValueTask(inner.ClearStateAsync(stateName, grainId, grainState)), _clearPools[shard], CancellationToken.None);
    }

    private static void RequireStorableKey(GrainId grainId)
    {
        if (StorableText.Problem(grainId.Key.ToString()) is { } problem)
        {
            throw new InvalidRequestException("key", $"the key of {grainId.Type} {problem}");
        }
    }
}
