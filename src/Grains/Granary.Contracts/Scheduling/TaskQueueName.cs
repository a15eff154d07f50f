using Granary.Errors;

namespace Granary.Scheduling;

/// <summary>The rule for task queue names, shared by the grains, the SDK and the options validator.</summary>
public static class TaskQueueName
{
    /// <summary>Why <paramref name="name"/> cannot name a task queue, or null when it can.</summary>
    public static string? Problem(string? name)
    {
        try
        {
            Guard.Name(name, "queue", Limits.Scheduling.MaxQueueNameLength);
        }
        catch (InvalidRequestException ex)
        {
            return ex.Message;
        }

        return name!.Contains('/', StringComparison.Ordinal) ? "queue: must not contain '/'" : null;
    }

    /// <summary>Returns <paramref name="name"/> when it can name a task queue.</summary>
    /// <exception cref="TaskRejectedException">Empty, longer than <see cref="Limits.Scheduling.MaxQueueNameLength"/>, or containing <c>/</c>.</exception>
    public static string Check(string? name) =>
        Problem(name) is { } problem ? throw new TaskRejectedException("queue", problem["queue: ".Length..]) : name!;
}
