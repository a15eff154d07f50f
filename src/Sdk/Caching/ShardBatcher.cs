using Orleans.Concurrency;
using Granary.Caching;

namespace Granary.Sdk.Caching;

/// <summary>
/// Coalesces concurrent commands bound for one shard: while <c>maxInFlight</c> grain calls are
/// outstanding, new commands queue, and the next call carries all of them (up to the batch limit).
/// Under load one grain call serves many callers, which is what lets a grain-based cache keep up
/// with a pipelining Redis client.
/// </summary>
internal sealed class ShardBatcher(ICacheShardGrain shard, long ringVersion, int maxInFlight, int maxBatch, TimeSpan callTimeout)
{
    private readonly Lock _gate = new();
    private List<Pending> _queue = [];
    private int _inFlight;
    private long _calls;
    private long _commands;

    /// <summary>Grain calls made.</summary>
    public long Calls => Interlocked.Read(ref _calls);

    /// <summary>Commands sent.</summary>
    public long Commands => Interlocked.Read(ref _commands);

    public Task<CacheReply> EnqueueAsync(string[] command)
    {
        // Continuations run inline when a batch completes: the callers' next commands are queued
        // while this batch's call slot is still held, so they form the next batch without a
        // thread-pool hop per operation (measured: about 2x the throughput of asynchronous continuations).
        var pending = new Pending(command, new TaskCompletionSource<CacheReply>());
        List<Pending>? batch = null;
        lock (_gate)
        {
            _queue.Add(pending);
            if (_inFlight < maxInFlight)
            {
                _inFlight++;
                batch = TakeBatch();
            }
        }

        if (batch is not null)
        {
            _ = SendAsync(batch);
        }

        return pending.Completion.Task;
    }

    private List<Pending> TakeBatch()
    {
        if (_queue.Count <= maxBatch)
        {
            var all = _queue;
            _queue = [];
            return all;
        }

        var first = _queue.GetRange(0, maxBatch);
        _queue.RemoveRange(0, maxBatch);
        return first;
    }

    private async Task SendAsync(List<Pending> batch)
    {
        while (true)
        {
            var commands = new string[batch.Count][];
            for (var i = 0; i < batch.Count; i++)
            {
                commands[i] = batch[i].Command;
            }

            Interlocked.Increment(ref _calls);
            Interlocked.Add(ref _commands, batch.Count);
            try
            {
                var replies = (await shard.ExecuteAsync(commands.AsImmutable(), ringVersion).WaitAsync(callTimeout)).Value;
                for (var i = 0; i < batch.Count; i++)
                {
                    batch[i].Completion.TrySetResult(i < replies.Length ? replies[i] : CacheReply.Error("ERR missing reply"));
                }
            }
            catch (Exception ex)
            {
                foreach (var pending in batch)
                {
                    pending.Completion.TrySetException(ex);
                }
            }

            lock (_gate)
            {
                if (_queue.Count == 0)
                {
                    _inFlight--;
                    return;
                }

                batch = TakeBatch();
            }
        }
    }

    private sealed record Pending(string[] Command, TaskCompletionSource<CacheReply> Completion);
}
