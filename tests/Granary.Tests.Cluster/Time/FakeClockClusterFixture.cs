using Granary.Tests.Cluster.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Orleans.TestingHost;

namespace Granary.Tests.Cluster.Time;

/// <summary>
/// One in-process silo with memory storage whose clock is a <see cref="FakeTimeProvider"/> the test
/// moves: for cluster tests where the behaviour under test is time (a lease's expiry, a deadline),
/// so that they neither sleep nor depend on how busy the machine is. The silo's
/// <see cref="TimeProvider"/> is the fake; Granary's grains take their time from it. One silo, so
/// that moving the clock never makes silos suspect each other.
/// </summary>
public sealed class FakeClockClusterFixture : GranaryTestClusterFixture
{
    /// <summary>The silo's clock; moved only by tests (starts at the real time).</summary>
    public static FakeTimeProvider Clock { get; } = new(DateTimeOffset.UtcNow);

    /// <inheritdoc/>
    protected override short InitialSilos => 1;

    /// <inheritdoc/>
    protected override Task ConfigureAsync(TestClusterBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Properties["Granary:Storage:Mode"] = "Memory";
        builder.AddSiloBuilderConfigurator<FakeClockConfigurator>();
        return Task.CompletedTask;
    }

    /// <summary>Registers <see cref="Clock"/> as the silo's <see cref="TimeProvider"/> (the last registration wins over the defaults' TryAdd).</summary>
    public sealed class FakeClockConfigurator : ISiloConfigurator
    {
        /// <inheritdoc/>
        public void Configure(ISiloBuilder siloBuilder)
        {
            ArgumentNullException.ThrowIfNull(siloBuilder);
            siloBuilder.Services.AddSingleton<TimeProvider>(Clock);
        }
    }
}

/// <summary>The tests that share the fake-clock cluster (they move one clock, so they run one at a time).</summary>
[CollectionDefinition(Name)]
public sealed class FakeClockClusterCollection : ICollectionFixture<FakeClockClusterFixture>
{
    /// <summary>The collection's name.</summary>
    public const string Name = "fake-clock-cluster";
}
