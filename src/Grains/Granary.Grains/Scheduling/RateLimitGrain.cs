using Microsoft.Extensions.Options;

namespace Granary.Scheduling;

/// <summary>
/// Implements <see cref="IRateLimitGrain"/>: one token bucket per task type for the whole cluster
/// (one grain activation per type). The bucket is soft state: after a silo loss it restarts full,
/// which can allow one extra burst.
/// </summary>
[GrainType("granary.scheduling.rate-limit")]
[KeyIsName("type")]
public sealed class RateLimitGrain(IOptions<SchedulingOptions> options, TimeProvider time) : Grain, IRateLimitGrain
{
    private TokenBucket? _bucket;

    /// <inheritdoc/>
    public Task<TimeSpan> TryAcquireAsync()
    {
        if (!options.Value.RateLimits.TryGetValue(this.GetPrimaryKeyString(), out var limit))
        {
            return Task.FromResult(TimeSpan.Zero);
        }

        _bucket ??= new TokenBucket(limit.PerSecond, limit.Burst > 0 ? limit.Burst : Math.Max(1, (int)limit.PerSecond), time.GetUtcNow());
        return Task.FromResult(_bucket.TryTake(time.GetUtcNow(), out var retryAfter) ? TimeSpan.Zero : retryAfter);
    }
}
