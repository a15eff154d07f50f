namespace Granary.Scheduling;

/// <summary>
/// Exponential backoff with a cap and optional full jitter (AWS "Exponential Backoff and Jitter"):
/// retry n waits <c>min(cap, base * 2^(n-1))</c>, or a uniform draw in [0, that] with full jitter,
/// so that many tasks failing together do not retry in lock-step.
/// </summary>
/// <example><code>
/// var policy = new BackoffPolicy(TimeSpan.FromSeconds(1), TimeSpan.FromMinutes(1), jitter: true);
/// TimeSpan wait = policy.DelayFor(retry: 3, Random.Shared); // in [0, 4 s]
/// </code></example>
public sealed record BackoffPolicy
{
    /// <summary>Largest accepted cap: one day.</summary>
    public static readonly TimeSpan MaxCap = TimeSpan.FromDays(1);

    /// <summary>Creates a policy; base must be positive and at most the cap.</summary>
    public BackoffPolicy(TimeSpan baseDelay, TimeSpan cap, bool jitter = true)
    {
        if (baseDelay <= TimeSpan.Zero)
        {
            throw new TaskValidationException("backoffBase", "must be positive");
        }

        if (cap < baseDelay || cap > MaxCap)
        {
            throw new TaskValidationException("backoffCap", $"must be between the base delay ({baseDelay}) and {MaxCap}");
        }

        BaseDelay = baseDelay;
        Cap = cap;
        Jitter = jitter;
    }

    /// <summary>Delay before the first retry (without jitter).</summary>
    public TimeSpan BaseDelay { get; }

    /// <summary>No delay is longer than this.</summary>
    public TimeSpan Cap { get; }

    /// <summary>Full jitter: draw uniformly in [0, exponential delay].</summary>
    public bool Jitter { get; }

    /// <summary>The exponential delay for retry number <paramref name="retry"/> (1-based), before jitter.</summary>
    public TimeSpan CeilingFor(int retry)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(retry, 1);
        // 2^(retry-1) overflows quickly; once past the cap the answer is the cap.
        var exponent = Math.Min(retry - 1, 62);
        var ticks = BaseDelay.Ticks * Math.Pow(2, exponent);
        return ticks >= Cap.Ticks ? Cap : TimeSpan.FromTicks((long)ticks);
    }

    /// <summary>The delay to wait before retry number <paramref name="retry"/> (1-based).</summary>
    public TimeSpan DelayFor(int retry, Random random)
    {
        ArgumentNullException.ThrowIfNull(random);
        var ceiling = CeilingFor(retry);
        return Jitter ? TimeSpan.FromTicks((long)(random.NextDouble() * ceiling.Ticks)) : ceiling;
    }
}
