using Orleans.Storage;

namespace Granary.Hosting.Storage;

/// <summary>
/// An <see cref="IGrainStorage"/> that forwards each grain's Read/Write/Clear to one inner provider
/// (one PostgreSQL database each) chosen by the consistent hash ring over the grain key. The inner
/// providers keep their own ETag checks, so a stale second activation still gets
/// <see cref="InconsistentStateException"/>.
/// </summary>
public sealed class ShardedGrainStorage : IGrainStorage
{
    private readonly ShardRouter _router;
    private readonly IReadOnlyDictionary<string, IGrainStorage> _shards;
    private readonly IReadOnlyDictionary<string, GroupCommitStateWriter> _writers;

    /// <summary>
    /// Creates the router over already-built inner providers keyed by shard name; with
    /// <paramref name="writers"/>, writes go through each shard's group-commit writer instead.
    /// </summary>
    public ShardedGrainStorage(ShardRouter router, IReadOnlyDictionary<string, IGrainStorage> shards, IReadOnlyDictionary<string, GroupCommitStateWriter>? writers = null)
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
    }

    /// <inheritdoc/>
    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        ShardOf(grainId).ReadStateAsync(stateName, grainId, grainState);

    /// <inheritdoc/>
    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var shard = _router.ShardFor(grainId);
        return _writers.TryGetValue(shard, out var writer) && GroupCommitStateWriter.Handles(stateName)
            ? writer.WriteStateAsync(stateName, grainId, grainState)
            : _shards[shard].WriteStateAsync(stateName, grainId, grainState);
    }

    /// <inheritdoc/>
    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        ShardOf(grainId).ClearStateAsync(stateName, grainId, grainState);

    private IGrainStorage ShardOf(GrainId grainId) => _shards[_router.ShardFor(grainId)];
}
