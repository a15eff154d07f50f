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
