namespace Granary.Queues;

/// <summary>
/// An enqueue into several partitions (of one queue or of several) that a full partition refuses
/// whole: room is reserved in every partition first (<see cref="IQueuePartitionGrain.ReserveAsync"/>),
/// and the messages are enqueued only when every partition had room. Used by exchange publishes and
/// by batches that span partitions.
/// </summary>
public static class QueueEnqueues
{
    /// <summary>
    /// Enqueues each part into its partition, or none when one is full: then a
    /// <see cref="QueueFullException"/> names the full queues and nothing is stored. Only a partition
    /// that lost its reservation in between (it was reactivated) can still refuse after others stored
    /// their parts; the exception then lists where the messages were stored (retrying with the same
    /// message ids is deduplicated there). Results are per part, in order.
    /// </summary>
    /// <param name="parts">Each partition with the messages for it (a partition at most once).</param>
    /// <param name="what">What is enqueued, for the error message (e.g. "exchange 'x': message 'm'").</param>
    public static async Task<IReadOnlyList<IReadOnlyList<EnqueueResult>>> AllOrNothingAsync(IReadOnlyList<QueueEnqueuePart> parts, string what)
    {
        ArgumentNullException.ThrowIfNull(parts);
        if (parts.Count == 1)
        {
            // One partition checks room and appends in one step.
            return [await parts[0].Partition.EnqueueAsync(parts[0].Messages)];
        }

        var reservations = await Task.WhenAll(parts.Select(p => AttemptAsync(() => p.Partition.ReserveAsync(p.Messages.Select(m => m.Id).ToList()))));
        var refused = Refused(parts, reservations);
        var failure = reservations.Select(r => r.Error).FirstOrDefault(e => e is not null and not QueueFullException);
        if (refused.Count > 0 || failure is not null)
        {
            for (var i = 0; i < parts.Count; i++)
            {
                if (reservations[i].Error is null)
                {
                    await parts[i].Partition.ReleaseAsync(reservations[i].Value);
                }
            }

            throw refused.Count > 0 ? new QueueFullException(what, refused, []) : Rethrow(failure!);
        }

        var enqueued = await Task.WhenAll(parts.Select((p, i) => AttemptAsync(() => p.Partition.EnqueueReservedAsync(p.Messages, reservations[i].Value))));
        refused = Refused(parts, enqueued);
        if (refused.Count > 0)
        {
            var stored = parts.Where((_, i) => enqueued[i].Error is null).Select(p => p.Queue).Distinct(StringComparer.Ordinal).ToList();
            throw new QueueFullException(what, refused, stored);
        }

        if (enqueued.Select(r => r.Error).FirstOrDefault(e => e is not null) is { } failed)
        {
            throw Rethrow(failed);
        }

        return enqueued.Select(r => r.Value!).ToList();
    }

    private static async Task<(T? Value, Exception? Error)> AttemptAsync<T>(Func<Task<T>> call)
    {
        try
        {
            return (await call(), null);
        }
        catch (Exception ex)
        {
            return (default, ex);
        }
    }

    private static List<string> Refused<T>(IReadOnlyList<QueueEnqueuePart> parts, IReadOnlyList<(T? Value, Exception? Error)> outcomes) =>
        parts.Where((_, i) => outcomes[i].Error is QueueFullException).Select(p => p.Queue).Distinct(StringComparer.Ordinal).ToList();

    private static Exception Rethrow(Exception error)
    {
        System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(error).Throw();
        return error;
    }
}

/// <summary>The messages for one partition of an <see cref="QueueEnqueues.AllOrNothingAsync"/>.</summary>
/// <param name="Queue">The partition's queue (named in errors).</param>
/// <param name="Partition">The partition.</param>
/// <param name="Messages">Its messages, 1 to <see cref="Limits.MaxBatchSize"/>.</param>
public sealed record QueueEnqueuePart(string Queue, IQueuePartitionGrain Partition, IReadOnlyList<QueueMessageInput> Messages);
