namespace Granary.Errors;

/// <summary>Stable error codes carried by <see cref="GranaryException.Code"/>.</summary>
public static class ErrorCodes
{
    /// <summary>An argument is missing, malformed or outside a documented limit.</summary>
    public const string InvalidArgument = "INVALID_ARGUMENT";

    /// <summary>A conditional write expected another version.</summary>
    public const string Conflict = "CONFLICT";

    /// <summary>A bounded resource (a queue, a buffer) is full; nothing was changed, the request may succeed later.</summary>
    public const string ResourceExhausted = "RESOURCE_EXHAUSTED";

    /// <summary>The named thing does not exist.</summary>
    public const string NotFound = "NOT_FOUND";

    /// <summary>The caller is known but may not make this call (an internal method called from a
    /// client, or a permission its identity does not hold); nothing was changed.</summary>
    public const string PermissionDenied = "PERMISSION_DENIED";

    /// <summary>The caller presented no credential, or one that is not valid; nothing was changed.</summary>
    public const string Unauthenticated = "UNAUTHENTICATED";

    /// <summary>Anything unexpected.</summary>
    public const string Internal = "INTERNAL";

    /// <summary>
    /// A dependency (a storage shard, another silo) failed for a while or did not answer in time;
    /// the message names the cause. Retryable: Granary's operations take request ids or are
    /// idempotent, so sending the same request again is safe.
    /// </summary>
    public const string Unavailable = "UNAVAILABLE";

    /// <summary>True for codes whose request may succeed if sent again unchanged.</summary>
    public static bool IsRetryable(string? code) => code == Unavailable;
}
