namespace Granary.Queues;

/// <summary>Where a message is in its life inside one partition.</summary>
public enum QueueMessageStatus
{
    /// <summary>Accepted but its storage write has not finished: not deliverable, not confirmed.</summary>
    Pending = 0,

    /// <summary>Durable and waiting for a consumer (possibly delayed, or behind an earlier message with the same key).</summary>
    Ready = 1,

    /// <summary>Leased to a consumer until the lease expires or it is acked or nacked.</summary>
    InFlight = 2,

    /// <summary>In the partition's dead-letter list.</summary>
    DeadLettered = 3,
}
