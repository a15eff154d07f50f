using Granary.Errors;

namespace Granary.Queues;

/// <summary>Error codes of the queue family.</summary>
public static class QueueErrorCodes
{
    /// <summary>A receipt is unknown, stale (its lease ended) or was already settled.</summary>
    public const string ReceiptInvalid = "RECEIPT_INVALID";
}

/// <summary>The queue does not exist (create it first); nothing was changed.</summary>
[GenerateSerializer, Alias("granary.queues.error.not-found")]
public sealed class QueueNotFoundException : GranaryException
{
    /// <summary>Creates the error.</summary>
    public QueueNotFoundException(string queue)
        : base(ErrorCodes.NotFound, $"queue '{queue}' does not exist")
    {
        Queue = queue;
    }

    /// <summary>Required by serializers.</summary>
    public QueueNotFoundException()
        : this("?")
    {
    }

    /// <summary>The queue asked for.</summary>
    [Id(0)]
    public string Queue { get; private set; }
}

/// <summary>Why a receipt was refused.</summary>
public enum ReceiptProblem
{
    /// <summary>Not a receipt this queue issued.</summary>
    Unknown,

    /// <summary>The message was already acked, purged or dead-lettered.</summary>
    AlreadySettled,

    /// <summary>The lease expired and the message went back to the queue (it may be with another consumer now).</summary>
    LeaseLost,
}

/// <summary>An ack, nack or extend named a receipt that cannot be settled; nothing was changed.</summary>
[GenerateSerializer, Alias("granary.queues.error.receipt")]
public sealed class ReceiptInvalidException : GranaryException
{
    /// <summary>Creates the error.</summary>
    public ReceiptInvalidException(string receipt, ReceiptProblem problem)
        : base(QueueErrorCodes.ReceiptInvalid, $"receipt '{receipt}': {Describe(problem)}")
    {
        Receipt = receipt;
        Problem = problem;
    }

    /// <summary>Required by serializers.</summary>
    public ReceiptInvalidException()
        : this("?", ReceiptProblem.Unknown)
    {
    }

    /// <summary>The receipt given.</summary>
    [Id(0)]
    public string Receipt { get; private set; }

    /// <summary>What is wrong with it.</summary>
    [Id(1)]
    public ReceiptProblem Problem { get; private set; }

    private static string Describe(ReceiptProblem problem) => problem switch
    {
        ReceiptProblem.AlreadySettled => "the message was already acked, purged or dead-lettered",
        ReceiptProblem.LeaseLost => "the lease expired and the message was returned to the queue",
        _ => "this queue issued no such receipt",
    };
}

/// <summary>
/// A queue is at its max depth (code <c>RESOURCE_EXHAUSTED</c>): the enqueue, batch or publish was
/// refused whole and nothing was stored. It may succeed once consumers have acked messages or dead
/// letters were purged. For an exchange publish or a batch that spans partitions,
/// <see cref="RefusedQueues"/> names every queue that had no room; these are all-or-nothing, so
/// <see cref="StoredIn"/> is empty unless a partition lost its reservation in between (it restarted):
/// then it lists the queues that did store their part, and a retry with the same message ids is
/// deduplicated there.
/// </summary>
[GenerateSerializer, Alias("granary.queues.error.full")]
public sealed class QueueFullException : GranaryException
{
    /// <summary>A partition refused an enqueue.</summary>
    public QueueFullException(string queue, int partition, long held, long limit)
        : base(ErrorCodes.ResourceExhausted, $"queue '{queue}' is full: partition {partition} holds {held} of the {limit} messages it may hold (its share of the queue's max depth); nothing was stored")
    {
        Queue = queue;
        RefusedQueues = [queue];
        StoredIn = [];
        Partition = partition;
        Held = held;
        Limit = limit;
    }

    /// <summary>An enqueue into several partitions (an exchange publish, a batch) was refused because these queues are full.</summary>
    /// <param name="what">What was enqueued (e.g. "exchange 'x': message 'm'").</param>
    /// <param name="refused">The full queues.</param>
    /// <param name="storedIn">Queues that stored their part anyway (a partition lost its reservation).</param>
    public QueueFullException(string what, IReadOnlyList<string> refused, IReadOnlyList<string> storedIn)
        : base(ErrorCodes.ResourceExhausted, Describe(what, refused, storedIn))
    {
        ArgumentNullException.ThrowIfNull(refused);
        ArgumentNullException.ThrowIfNull(storedIn);
        Queue = refused.Count > 0 ? refused[0] : "?";
        RefusedQueues = [.. refused];
        StoredIn = [.. storedIn];
        Partition = -1;
    }

    /// <summary>Required by serializers.</summary>
    public QueueFullException()
        : this("?", -1, 0, 0)
    {
    }

    /// <summary>The (first) queue that refused.</summary>
    [Id(0)]
    public string Queue { get; private set; }

    /// <summary>Every queue that refused (one for an enqueue; for a publish, each full routed queue).</summary>
    [Id(1)]
    public IReadOnlyList<string> RefusedQueues { get; private set; }

    /// <summary>Queues that stored the message although the publish failed (empty unless a reservation was lost).</summary>
    [Id(2)]
    public IReadOnlyList<string> StoredIn { get; private set; }

    /// <summary>The partition that refused (-1 for a publish).</summary>
    [Id(3)]
    public int Partition { get; private set; }

    /// <summary>Messages the partition held.</summary>
    [Id(4)]
    public long Held { get; private set; }

    /// <summary>Messages the partition may hold.</summary>
    [Id(5)]
    public long Limit { get; private set; }

    private static string Describe(string what, IReadOnlyList<string> refused, IReadOnlyList<string> storedIn) =>
        storedIn.Count == 0
            ? $"{what} was refused whole: queue(s) {string.Join(", ", refused.Select(q => $"'{q}'"))} are full; nothing was stored"
            : $"{what} was refused by full queue(s) {string.Join(", ", refused.Select(q => $"'{q}'"))} but stored in {string.Join(", ", storedIn.Select(q => $"'{q}'"))}; retry with the same message ids";
}
