using Granary.Locks;
using Microsoft.Extensions.Options;

namespace Granary.Server.Locks;

/// <summary>Fails start-up with one clear message per mistake in <c>Granary:Locks</c>.</summary>
public sealed class LockOptionsValidator : IValidateOptions<LockOptions>
{
    /// <inheritdoc/>
    public ValidateOptionsResult Validate(string? name, LockOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        var section = LockOptions.SectionName;
        if (!Enum.IsDefined(options.Durability))
        {
            errors.Add($"{section}:Durability must be Durable or Fast.");
        }

        if (options.MaxTtl <= TimeSpan.Zero || options.MaxTtl > Limits.Locks.MaxConfigurableTtl)
        {
            errors.Add($"{section}:MaxTtl must be above 0 and at most {Limits.Locks.MaxConfigurableTtl} (got {options.MaxTtl}).");
        }

        if (options.MaxWait < TimeSpan.Zero || options.MaxWait > Limits.Locks.MaxConfigurableWait)
        {
            errors.Add($"{section}:MaxWait must be between 0 and {Limits.Locks.MaxConfigurableWait} (got {options.MaxWait}).");
        }

        if (options.MaxCallWait < TimeSpan.FromMilliseconds(100) || options.MaxCallWait > Limits.Locks.MaxConfigurableCallWait)
        {
            errors.Add($"{section}:MaxCallWait must be between 100 ms and {Limits.Locks.MaxConfigurableCallWait.TotalSeconds:F0} s, below the Orleans response timeout (got {options.MaxCallWait}).");
        }

        if (options.MaxWaiters is < 1 or > Limits.Locks.MaxConfigurableWaiters)
        {
            errors.Add($"{section}:MaxWaiters must be between 1 and {Limits.Locks.MaxConfigurableWaiters:N0} (got {options.MaxWaiters}).");
        }

        if (options.LockDelay is { } delay && (delay < TimeSpan.Zero || delay > Limits.Locks.MaxConfigurableTtl))
        {
            errors.Add($"{section}:LockDelay must be between 0 and {Limits.Locks.MaxConfigurableTtl} (got {delay}).");
        }

        if (options.ActivationLease < TimeSpan.FromMilliseconds(300) || options.ActivationLease > TimeSpan.FromMinutes(5))
        {
            errors.Add($"{section}:ActivationLease must be between 300 ms and 5 minutes (got {options.ActivationLease}).");
        }

        if (options.Durability == LockDurability.Fast && options.LockDelay is { } d && d < options.MaxTtl + options.ActivationLease)
        {
            errors.Add($"{section}:LockDelay ({d}) is shorter than MaxTtl + ActivationLease ({options.MaxTtl + options.ActivationLease}): in Fast mode a lease granted by an older activation could still be live when the new one grants.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
