using Granary.Client;
using Granary.Client.Configuration;
using Granary.Transactions;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Granary.Server.Transactions;

/// <summary>Registers the transaction family on a silo.</summary>
/// <example><code>
/// silo.AddGranaryTransactions(configuration);
/// </code></example>
public static class TransactionsSiloBuilderExtensions
{
    /// <summary>
    /// Binds and validates <c>Granary:Transactions</c>. The recovery registry's buckets keep
    /// themselves awake with reminders (<see cref="GranarySiloBuilderExtensions.AddGranaryReminders"/>);
    /// the <see cref="PostgresDecisionSweeper"/> deletes decision records past their retention.
    /// </summary>
    public static ISiloBuilder AddGranaryTransactions(this ISiloBuilder silo, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(silo);
        ArgumentNullException.ThrowIfNull(configuration);
        if (!silo.Services.AddOnce(nameof(AddGranaryTransactions)))
        {
            return silo;
        }

        ValidatedOptions.Bind<TransactionOptions, TransactionOptionsValidator>(silo.Services, configuration, TransactionOptions.SectionName);
        silo.Services.AddSingleton<TransactionDecisionStore>();

        // Deletes old decision records on PostgreSQL shards; does nothing on memory storage.
        silo.Services.AddSingleton<PostgresDecisionSweeper>();
        silo.Services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>>(sp => sp.GetRequiredService<PostgresDecisionSweeper>());
        return silo;
    }
}

/// <summary>Fails start-up with one clear message per mistake in <c>Granary:Transactions</c>.</summary>
public sealed class TransactionOptionsValidator : IValidateOptions<TransactionOptions>
{
    /// <summary>Largest <see cref="TransactionOptions.MaxClockSkew"/>: 1 minute, well inside <see cref="TransactionOptions.DecisionTrustedFor"/>.</summary>
    public static readonly TimeSpan MaxClockSkew = TimeSpan.FromMinutes(1);


    /// <inheritdoc/>
    public ValidateOptionsResult Validate(string? name, TransactionOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        void Positive(string field, TimeSpan value)
        {
            if (value <= TimeSpan.Zero || value > TimeSpan.FromDays(1))
            {
                errors.Add($"{TransactionOptions.SectionName}:{field} must be positive and at most a day (got {value}).");
            }
        }

        Positive(nameof(options.PrepareTimeout), options.PrepareTimeout);
        Positive(nameof(options.CallTimeout), options.CallTimeout);
        Positive(nameof(options.PhaseTwoBudget), options.PhaseTwoBudget);
        Positive(nameof(options.PreparedTimeout), options.PreparedTimeout);
        Positive(nameof(options.InquiryInterval), options.InquiryInterval);
        Positive(nameof(options.OutcomeRetention), options.OutcomeRetention);
        Positive(nameof(options.RetryInitial), options.RetryInitial);
        Positive(nameof(options.RetryMax), options.RetryMax);
        Positive(nameof(options.RecoveryScanInterval), options.RecoveryScanInterval);
        if (options.ThreePhaseTimeout < Limits.Transactions.MinThreePhaseTimeout || options.ThreePhaseTimeout > Limits.Transactions.MaxThreePhaseTimeout)
        {
            errors.Add($"{TransactionOptions.SectionName}:ThreePhaseTimeout must be between {Limits.Transactions.MinThreePhaseTimeout} and {Limits.Transactions.MaxThreePhaseTimeout} (got {options.ThreePhaseTimeout}).");
        }

        if (options.OutcomeFlushDelay < TimeSpan.Zero || options.OutcomeFlushDelay > TimeSpan.FromMinutes(1))
        {
            errors.Add($"{TransactionOptions.SectionName}:OutcomeFlushDelay must be between 0 and 1 minute (got {options.OutcomeFlushDelay}).");
        }

        if (options.MaxClockSkew < TimeSpan.Zero || options.MaxClockSkew > MaxClockSkew)
        {
            errors.Add($"{TransactionOptions.SectionName}:MaxClockSkew must be between 0 and {MaxClockSkew} (got {options.MaxClockSkew}): coordinators trust the decision they hold for {TransactionOptions.DecisionTrustedFor} after it was made, half the shortest decision retention.");
        }

        if (options.OutcomeRetention < options.OutcomeRetentionFloor)
        {
            errors.Add($"{TransactionOptions.SectionName}:OutcomeRetention ({options.OutcomeRetention}) must be at least PrepareTimeout + MaxClockSkew ({options.OutcomeRetentionFloor}): a late duplicate prepare must find the outcome.");
        }

        if (options.OutcomeRetention < options.SagaStepWindow)
        {
            errors.Add($"{TransactionOptions.SectionName}:OutcomeRetention ({options.OutcomeRetention}) must be at least CallTimeout + MaxClockSkew ({options.SagaStepWindow}): saga steps are remembered at least that long.");
        }

        if (options.DecisionRetention < TransactionOptions.MinDecisionRetention || options.DecisionRetention > TimeSpan.FromDays(3650))
        {
            errors.Add($"{TransactionOptions.SectionName}:DecisionRetention must be between {TransactionOptions.MinDecisionRetention} and 3650 days (got {options.DecisionRetention}): a replay within it is answered from the record.");
        }

        if (options.DecisionSweepInterval < TimeSpan.FromSeconds(1) || options.DecisionSweepInterval > TimeSpan.FromDays(1))
        {
            errors.Add($"{TransactionOptions.SectionName}:DecisionSweepInterval must be between 1 second and a day (got {options.DecisionSweepInterval}).");
        }

        if (options.RetryMax < options.RetryInitial)
        {
            errors.Add($"{TransactionOptions.SectionName}:RetryMax must be at least RetryInitial.");
        }

        if (options.PreparedTimeout < options.PrepareTimeout)
        {
            // A participant must not give up on a coordinator that may still be collecting votes.
            errors.Add($"{TransactionOptions.SectionName}:PreparedTimeout ({options.PreparedTimeout}) must be at least PrepareTimeout ({options.PrepareTimeout}).");
        }

        if (options.MaxRememberedOutcomes is < 16 or > 1_000_000)
        {
            errors.Add($"{TransactionOptions.SectionName}:MaxRememberedOutcomes must be between 16 and 1,000,000.");
        }

        if (options.SagaMaxActionAttempts is < 1 or > 100 || options.SagaMaxCompensationAttempts is < 1 or > 1000)
        {
            errors.Add($"{TransactionOptions.SectionName}: SagaMaxActionAttempts must be 1-100 and SagaMaxCompensationAttempts 1-1000.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
