using Granary.Errors;

namespace Granary.Queues;

/// <summary>Checks queue messages against <see cref="Limits.Queues"/> and the common limits.</summary>
public static class QueueLimits
{
    /// <summary>Checks one message: a null message or body, a body over <see cref="Limits.Queues.MaxBodyBytes"/>, an empty, over-long or ill-formed id or key, or a delay outside [0, <see cref="Limits.Queues.MaxDelay"/>] is an <see cref="InvalidRequestException"/>.</summary>
    public static void Validate(QueueMessageInput? message)
    {
        if (message is null)
        {
            throw new InvalidRequestException("message", "must not be null");
        }

        if (message.Body is null)
        {
            throw new InvalidRequestException("body", "must not be null");
        }

        if (message.Body.Length > Limits.Queues.MaxBodyBytes)
        {
            throw new InvalidRequestException("body", $"is {message.Body.Length} bytes; the limit is {Limits.Queues.MaxBodyBytes}");
        }

        if (message.Id is not null)
        {
            Guard.Name(message.Id, "id");
        }

        if (message.Key is not null)
        {
            Guard.Name(message.Key, "key");
        }

        Guard.InRange(message.Delay, "delay", TimeSpan.Zero, Limits.Queues.MaxDelay);
    }
}
