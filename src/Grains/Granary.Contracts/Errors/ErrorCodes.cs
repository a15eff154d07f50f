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

    /// <summary>Anything unexpected.</summary>
    public const string Internal = "INTERNAL";
}
