using Granary.Errors;

namespace Granary.Transactions;

/// <summary>A transaction (or saga) id was reused with different content; nothing was changed.</summary>
[GenerateSerializer, Alias("granary.error.tx-conflict")]
public sealed class TransactionConflictException : GranaryException
{
    /// <summary>Creates the error.</summary>
    public TransactionConflictException(string transactionId, string message)
        : base(ErrorCodes.Conflict, $"transaction '{transactionId}': {message}")
    {
        TransactionId = transactionId;
    }

    /// <summary>Required by serializers.</summary>
    public TransactionConflictException()
        : this("?", "reused with different content")
    {
    }

    /// <summary>The transaction id.</summary>
    [Id(0)]
    public string TransactionId { get; private set; }
}

/// <summary>The transaction aborted: no participant applied anything. <see cref="GranaryException.Code"/> says why.</summary>
[GenerateSerializer, Alias("granary.error.tx-aborted")]
public sealed class TransactionAbortedException : GranaryException
{
    /// <summary>Creates the error.</summary>
    public TransactionAbortedException(string transactionId, string code, string reason)
        : base(code, $"transaction '{transactionId}' aborted: {reason}")
    {
        TransactionId = transactionId;
        Reason = reason;
    }

    /// <summary>Required by serializers.</summary>
    public TransactionAbortedException()
        : this("?", TransactionErrorCodes.Aborted, "aborted")
    {
    }

    /// <summary>The transaction id.</summary>
    [Id(0)]
    public string TransactionId { get; private set; }

    /// <summary>Why.</summary>
    [Id(1)]
    public string Reason { get; private set; }
}

/// <summary>A message the protocol forbids (e.g. commit of a transaction this participant aborted); nothing was changed.</summary>
[GenerateSerializer, Alias("granary.error.tx-protocol")]
public sealed class TransactionProtocolException : GranaryException
{
    /// <summary>Creates the error.</summary>
    public TransactionProtocolException(string message)
        : base(TransactionErrorCodes.Protocol, message)
    {
    }

    /// <summary>Required by serializers.</summary>
    public TransactionProtocolException()
        : this("protocol violation")
    {
    }
}
