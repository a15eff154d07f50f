using Granary.Tests.Cluster.Infrastructure;
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
