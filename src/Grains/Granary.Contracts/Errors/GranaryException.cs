namespace Granary.Errors;

/// <summary>
/// Base of every error Granary raises on purpose. <see cref="Code"/> is a stable machine-readable
/// name (e.g. <c>INVALID_ARGUMENT</c>); the message is for people. Crosses the wire intact.
/// </summary>
[GenerateSerializer, Alias("granary.error")]
public class GranaryException : Exception
{
    /// <summary>Creates an error with a code and a message.</summary>
    public GranaryException(string code, string message)
        : base(message)
    {
        Code = code;
    }

    /// <summary>Creates an error with a code, a message and a cause.</summary>
    public GranaryException(string code, string message, Exception innerException)
        : base(message, innerException)
    {
        Code = code;
    }

    /// <summary>Required by serializers.</summary>
    public GranaryException()
        : this(ErrorCodes.Internal, "Granary error.")
    {
    }

    /// <summary>Required by serializers.</summary>
    public GranaryException(string message)
        : this(ErrorCodes.Internal, message)
    {
    }

    /// <summary>Required by serializers.</summary>
    public GranaryException(string message, Exception innerException)
        : this(ErrorCodes.Internal, message, innerException)
    {
    }

    /// <summary>Stable error code.</summary>
    [Id(0)]
    public string Code { get; private set; }

    /// <summary>True when sending the same request again may succeed (see <see cref="ErrorCodes.IsRetryable"/>).</summary>
    public bool IsRetryable => ErrorCodes.IsRetryable(Code);
}

/// <summary>
/// A dependency of the request (a storage shard, another silo) failed for longer than Granary's own
/// retries cover, or did not answer in time (code <c>UNAVAILABLE</c>, retryable). The message names
/// the cause. Whether the request took effect is unknown only where the message says so; either way
/// sending it again is safe, because Granary's operations take request ids or are idempotent. It
/// carries no inner exception: the cause's type (a database driver's, say) may have no codec, so
/// the cause travels in the message.
/// </summary>
[GenerateSerializer, Alias("granary.error.unavailable")]
public sealed class ServiceUnavailableException : GranaryException
{
    /// <summary>Creates the error; <paramref name="message"/> says what failed and why.</summary>
    public ServiceUnavailableException(string message)
        : base(ErrorCodes.Unavailable, message)
    {
    }

    /// <summary>Required by serializers.</summary>
    public ServiceUnavailableException()
        : this("service unavailable")
    {
    }
}

/// <summary>A request was refused because an argument is out of bounds; nothing was changed.</summary>
[GenerateSerializer, Alias("granary.error.invalid-argument")]
public sealed class InvalidRequestException : GranaryException
{
    /// <summary>Creates the error for <paramref name="parameter"/>.</summary>
    public InvalidRequestException(string parameter, string message)
        : base(ErrorCodes.InvalidArgument, $"{parameter}: {message}")
    {
        Parameter = parameter;
    }

    /// <summary>Required by serializers.</summary>
    public InvalidRequestException()
        : this("request", "invalid request")
    {
    }

    /// <summary>The argument at fault.</summary>
    [Id(0)]
    public string Parameter { get; private set; }
}

/// <summary>A conditional request lost: the version it expected is not the current one; nothing was changed.</summary>
[GenerateSerializer, Alias("granary.error.conflict")]
public sealed class VersionConflictException : GranaryException
{
    /// <summary>Creates the error.</summary>
    public VersionConflictException(string message, long expected, long actual)
        : base(ErrorCodes.Conflict, message)
    {
        Expected = expected;
        Actual = actual;
    }

    /// <summary>Required by serializers.</summary>
    public VersionConflictException()
        : this("version conflict", 0, 0)
    {
    }

    /// <summary>The version the caller expected.</summary>
    [Id(0)]
    public long Expected { get; private set; }

    /// <summary>The current version.</summary>
    [Id(1)]
    public long Actual { get; private set; }
}
