namespace Granary.Scheduling;

/// <summary>
/// A task request is malformed (unknown type, bad arguments, bad cron, negative delay). Raised by
/// the pure scheduling code; grains turn it into the typed wire error.
/// </summary>
public sealed class TaskValidationException(string parameter, string message) : ArgumentException($"{parameter}: {message}", parameter)
{
    /// <summary>Which part of the request is at fault.</summary>
    public string Parameter { get; } = parameter;

    /// <summary>The reason without the parameter prefix.</summary>
    public string Reason { get; } = message;
}
