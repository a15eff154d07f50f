using Granary.Tests.Cluster.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Orleans.TestingHost;

namespace Granary.Tests.Cluster.Adoption;

/// <summary>One in-process silo with memory storage and the real clock: for the lock provider contract.</summary>
public sealed class AdoptionClusterFixture : GranaryTestClusterFixture
{
    /// <inheritdoc/>
    protected override short InitialSilos => 1;

    /// <inheritdoc/>
    protected override Task ConfigureAsync(TestClusterBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Properties["Granary:Storage:Mode"] = "Memory";
        return Task.CompletedTask;
    }
}

/// <summary>
/// One in-process silo with memory storage whose clock is <see cref="Clock"/>, which the cache tests
/// move (expiry is the behaviour under test); the adapter under test takes the same clock.
/// </summary>
public sealed class AdoptionFakeClockClusterFixture : GranaryTestClusterFixture
{
    /// <summary>The silo's clock; moved only by the tests of the one class that uses this fixture.</summary>
    public static FakeTimeProvider Clock { get; } = new(DateTimeOffset.UtcNow);

    /// <inheritdoc/>
    protected override short InitialSilos => 1;

    /// <inheritdoc/>
    protected override Task ConfigureAsync(TestClusterBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Properties["Granary:Storage:Mode"] = "Memory";
        builder.AddSiloBuilderConfigurator<ClockConfigurator>();
        return Task.CompletedTask;
    }

    /// <summary>Registers <see cref="Clock"/> as the silo's <see cref="TimeProvider"/>.</summary>
    public sealed class ClockConfigurator : ISiloConfigurator
    {
        /// <inheritdoc/>
        public void Configure(ISiloBuilder siloBuilder)
        {
            ArgumentNullException.ThrowIfNull(siloBuilder);
            siloBuilder.Services.AddSingleton<TimeProvider>(Clock);
        }
    }
}
