using System.Diagnostics;
using Granary.Diagnostics;
using Npgsql;

namespace Granary.Server.Storage;

/// <summary>
/// Reaches each PostgreSQL shard with <c>SELECT 1</c> over a connection pool of its own (two
/// connections per shard, so a probe never waits behind the stores' work and never takes their
/// connections), all shards in parallel, each bounded by the probe's timeout.
/// </summary>
internal sealed class PostgresShardProbe : IStorageShardProbe, IAsyncDisposable
{
    private readonly NpgsqlDataSource[] _sources;

    public PostgresShardProbe(IReadOnlyList<string> shardConnectionStrings)
    {
        ArgumentNullException.ThrowIfNull(shardConnectionStrings);
        _sources = [.. shardConnectionStrings.Select(s => NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(s) { MaxPoolSize = 2, MinPoolSize = 0 }.ConnectionString))];
    }

    public string Mode => "PostgresShards";

    public async Task<IReadOnlyList<ShardHealth>> ProbeAsync(TimeSpan timeout, CancellationToken cancellationToken) =>
        await Task.WhenAll(_sources.Select((source, i) => ProbeOneAsync(StorageNames.Shard(i), source, timeout, cancellationToken)));

    public async ValueTask DisposeAsync()
    {
        foreach (var source in _sources)
        {
            await source.DisposeAsync();
        }
    }

    private static async Task<ShardHealth> ProbeOneAsync(string shard, NpgsqlDataSource source, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        bounded.CancelAfter(timeout);
        try
        {
            // WaitAsync as well: a connection attempt to a host that does not answer may outlast the token.
            await QueryAsync(source, bounded.Token).WaitAsync(timeout, cancellationToken);
            return new ShardHealth(shard, true, Stopwatch.GetElapsedTime(started), null);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && ex is not OutOfMemoryException)
        {
            var reason = ex is TimeoutException or OperationCanceledException ? $"no answer within {timeout.TotalMilliseconds:0} ms" : ex.Message;
            return new ShardHealth(shard, false, Stopwatch.GetElapsedTime(started), reason);
        }
    }

    private static async Task QueryAsync(NpgsqlDataSource source, CancellationToken cancellationToken)
    {
        await using var connection = await source.OpenConnectionAsync(cancellationToken);
        await using var command = new NpgsqlCommand("SELECT 1", connection);
        await command.ExecuteScalarAsync(cancellationToken);
    }
}
