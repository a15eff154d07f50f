using Granary.Caching;
using Granary.Client.Caching;
using Granary.Errors;

namespace Granary.Server.Resp;

/// <summary>
/// WATCH/UNWATCH with Redis's semantics for keys of one shard: EXEC answers nil (and runs nothing) if a watched
/// key changed since WATCH (by any connection, this one included; expiry and deletion count). The check runs
/// in the shard's grain call that runs the transaction, so nothing comes in between.
/// </summary>
internal sealed partial class RespConnection
{
    private const string WatchInsideMulti = "ERR WATCH inside MULTI is not allowed";

    private CacheWatch? _watch;
    private int _watchDatabase;

    private async Task WatchAsync(string[] args, CancellationToken token)
    {
        if (_transaction is not null)
        {
            Reply(CacheReply.Error(WatchInsideMulti));
            return;
        }

        if (args.Length < 2)
        {
            Reply(CacheReply.Error(RedisText.Arity("watch")));
            return;
        }

        if (_watch is not null && _watchDatabase != Database)
        {
            Reply(CacheReply.Error(RespText.CrossSlot));
            return;
        }

        try
        {
            var cache = await _endpoint.CacheAsync(Database);
            _watch = await cache.WatchAsync(_watch, args[1..], token);
            _watchDatabase = Database;
            Reply(CacheReply.Ok);
        }
        catch (InvalidRequestException)
        {
            Reply(CacheReply.Error(RespText.CrossSlot));
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !token.IsCancellationRequested)
        {
            // The keys may or may not be watched: the EXEC that follows must not pass unchecked.
            _watch ??= new CacheWatch(-1, -1, 0);
            _watch.Break();
            _watchDatabase = Database;
            Reply(CacheClient.Failed(ex));
        }
    }

    /// <summary>Ends the WATCH (EXEC, DISCARD, UNWATCH, RESET) and returns it.</summary>
    private CacheWatch? Unwatch()
    {
        var watch = _watch;
        _watch = null;
        return watch;
    }

    /// <summary>The watched EXEC: null when a watched key changed (the reply is then nil).</summary>
    private async Task<IReadOnlyList<CacheReply>?> ExecuteWatchedAsync(CacheClient cache, CacheWatch watch, List<string[]> commands, CancellationToken token)
    {
        if (_watchDatabase != Database)
        {
            throw new InvalidRequestException(nameof(commands), "must run on the watched cache");
        }

        return await cache.ExecuteWatchedAsync(watch, commands, token);
    }
}
