using System.Runtime.InteropServices;
using Granary.Caching;
using Granary.Client.Batching;
using Granary.Text;

namespace Granary.Client.Caching;

/// <summary>Ordered pipelines, for a wire endpoint that receives many commands of one connection at once.</summary>
public sealed partial class CacheClient
{
    /// <summary>
    /// Runs <paramref name="commands"/> (one connection's pipeline) with Redis's ordering and returns one reply
    /// per command, never an exception. A single command goes through the shard batchers (coalesced with other
    /// callers). Several are cut at commands that span shards (SCAN, DBSIZE, a multi-key command over several
    /// shards), which run alone in their place; between two such cuts the commands of each shard travel as one
    /// contiguous group, in order, through that shard's batcher (so one grain call carries the groups of many
    /// connections), and the shards' calls run in parallel: commands on one key keep their order, and
    /// commands on different shards cannot observe each other's order. A call that fails as a whole answers
    /// each of its commands with an error whose effect is unknown, as a lost Redis connection would.
    /// In a silo whose shards take direct commands (<see cref="CacheClientOptions.LocalShards"/>), the
    /// leading commands whose shards are here run first, at once (<see cref="RunLocalPrefix"/>), and only
    /// the rest takes the path above.
    /// </summary>
    internal async Task<CacheReply[]> ExecuteInOrderAsync(IReadOnlyList<string[]> commands, CancellationToken cancellationToken = default)
    {
        var replies = new CacheReply[commands.Count];
        var done = RunLocalPrefix(commands, replies);
        if (done == commands.Count)
        {
            return replies;
        }

        if (commands.Count == 1)
        {
            replies[0] = await ExecuteOrFailAsync(commands[0]);
            return replies;
        }

        await RunInOrderAsync(commands, [.. Enumerable.Range(done, commands.Count - done)], replies, 0, cancellationToken);
        return replies;
    }

    /// <summary>
    /// Runs the leading commands of <paramref name="commands"/> whose shards take direct commands in this
    /// silo, in order, each run of consecutive commands for one shard as one batch on the calling thread,
    /// and returns how many ran (their replies are filled; 0 when this client has no local shards). Stops
    /// before the first command that spans shards, whose shard is not here or does not take direct
    /// commands, or whose batch was answered MOVED (nothing of that batch ran): the ordered path then takes
    /// it and everything after it, so the connection's order holds. The shard checks every argument, as
    /// for a grain call.
    /// </summary>
    private int RunLocalPrefix(IReadOnlyList<string[]> commands, CacheReply[] replies)
    {
        var routing = Volatile.Read(ref _routing);
        if (!routing.HasLocalShards || commands.Count == 0)
        {
            return 0;
        }

        MaybeRefreshInBackground();
        ReadOnlySpan<string[]> all = commands switch
        {
            List<string[]> list => CollectionsMarshal.AsSpan(list),
            string[][] array => array,
            _ => [.. commands],
        };
        var done = 0;
        var shard = PrefixShard(all[0]);
        while (shard >= 0)
        {
            // The run of consecutive commands for this shard; each command's shard is computed once.
            var end = done + 1;
            var next = -1;
            while (end < all.Length && (next = PrefixShard(all[end])) == shard && end - done < _options.MaxBatchSize)
            {
                end++;
            }

            var answers = replies.AsSpan(done, end - done);
            if (!routing.TryRunLocal(shard, all[done..end], answers))
            {
                return done;
            }

            if (answers[0].IsMoved)
            {
                // Nothing of the batch ran: the ordered path answers it.
                answers.Clear();
                return done;
            }

            done = end;
            shard = done < all.Length ? next : -1;
        }

        return done;
    }

    /// <summary>The shard a command of a direct prefix runs on (keyless commands: shard 0), or -1 when it must take the ordered path (empty, or spanning shards).</summary>
    private int PrefixShard(string[] command) =>
        command is { Length: > 0 } && ShardOfKeys(command, out var spans) is var shard && !spans ? shard ?? 0 : -1;

    /// <summary>
    /// The shard that runs <paramref name="command"/> on the current ring: its keys' shard, null when it names no
    /// key or when its keys or fan-out span shards (<paramref name="spansShards"/> then says which).
    /// </summary>
    internal int? ShardOfKeys(string[] command, out bool spansShards)
    {
        var info = CacheCommandTable.Resolve(command);
        spansShards = info?.IsAllShards ?? false;
        if (info is null || info.FirstKey <= 0)
        {
            return null;
        }

        var routing = Volatile.Read(ref _routing);
        if (info.LastKey == info.FirstKey && !info.HasMovableKeys)
        {
            // One key (GET, SET and most commands): its shard, without walking a key list.
            return info.FirstKey < command.Length ? routing.ShardOf(command[info.FirstKey]) : null;
        }

        int? shard = null;
        foreach (var index in info.KeyIndexes(command))
        {
            var of = routing.ShardOf(command[index]);
            if (shard is { } known && known != of)
            {
                spansShards = true;
                return null;
            }

            shard = of;
        }

        return shard;
    }

    /// <summary>The reply that stands for a command whose shard call failed as a whole.</summary>
    internal static CacheReply Failed(Exception exception) =>
        CacheReply.Error($"ERR cache shard call failed ({exception.GetType().Name}: {exception.Message}); the command may or may not have run");

    private async Task<CacheReply> ExecuteOrFailAsync(string[] command)
    {
        try
        {
            return await ExecuteAsync(command);
        }
        catch (Exception ex)
        {
            return Failed(ex);
        }
    }

    private async Task RunInOrderAsync(IReadOnlyList<string[]> commands, int[] indexes, CacheReply[] replies, int attempt, CancellationToken cancellationToken)
    {
        var start = 0;
        while (start < indexes.Length)
        {
            var routing = Volatile.Read(ref _routing);
            var groups = new Dictionary<int, List<int>>();
            var next = start;
            for (; next < indexes.Length; next++)
            {
                var index = indexes[next];
                if (StorableProblem(commands[index]) is { } problem)
                {
                    replies[index] = problem;
                    continue;
                }

                var shard = ShardOfKeys(commands[index], out var spans);
                if (spans)
                {
                    break;
                }

                var target = shard ?? 0;
                if (!groups.TryGetValue(target, out var group))
                {
                    groups[target] = group = [];
                }

                group.Add(index);
            }

            var calls = new Task[groups.Count];
            var n = 0;
            foreach (var (shard, group) in groups)
            {
                calls[n++] = RunShardAsync(routing, shard, group, commands, replies, attempt, cancellationToken);
            }

            await Task.WhenAll(calls);
            if (next < indexes.Length)
            {
                replies[indexes[next]] = await ExecuteOrFailAsync(commands[indexes[next]]);
                next++;
            }

            start = next;
        }
    }

    private async Task RunShardAsync(Routing routing, int shard, List<int> indexes, IReadOnlyList<string[]> commands, CacheReply[] replies, int attempt, CancellationToken cancellationToken)
    {
        for (var offset = 0; offset < indexes.Count;)
        {
            // As the batchers cut: at most MaxBatchSize commands and the request budget of bytes (one heavier command goes alone).
            var count = 0;
            long bytes = 0;
            while (offset + count < indexes.Count && count < _options.MaxBatchSize)
            {
                bytes += Routing.WireBytes(commands[indexes[offset + count]]);
                if (count > 0 && bytes > CallBatcher<string[][], ArraySegment<CacheReply>>.RequestBudget)
                {
                    break;
                }

                count++;
            }

            var first = offset;
            var batch = new string[count][];
            for (var k = 0; k < count; k++)
            {
                batch[k] = commands[indexes[first + k]];
            }

            offset += count;
            ArraySegment<CacheReply> answers;
            try
            {
                // As one ordered group: on a shard of this silo that takes direct commands, at once; otherwise
                // through the shard's batcher, sharing a grain call with other connections' groups and
                // callers' commands for the shard, contiguous and in order.
                answers = await routing.RunAsync(shard, batch).WaitAsync(cancellationToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                foreach (var i in indexes.Skip(first))
                {
                    replies[i] = Failed(ex);
                }

                return;
            }

            if (attempt < MaxMovedRetries && answers.Any(a => a.IsMoved))
            {
                // Nothing of this call ran: route what is left of this shard's share again on the new ring, in order.
                Interlocked.Increment(ref _movedReplies);
                await RefreshAsync(force: true);
                await RunInOrderAsync(commands, [.. indexes.Skip(first)], replies, attempt + 1, cancellationToken);
                return;
            }

            for (var k = 0; k < count; k++)
            {
                replies[indexes[first + k]] = answers[k];
            }
        }
    }

    /// <summary>The error reply for a command with an argument no storage can carry, as <see cref="ExecuteAsync"/> checks it.</summary>
    private static CacheReply? StorableProblem(string[] command)
    {
        if (command.Length == 0)
        {
            return CacheReply.Error("ERR empty command");
        }

        for (var i = 1; i < command.Length; i++)
        {
            if (StorableText.Problem(command[i]) is { } problem)
            {
                return CacheReply.Error(RedisText.NotStorable(i, problem));
            }
        }

        return null;
    }
}
