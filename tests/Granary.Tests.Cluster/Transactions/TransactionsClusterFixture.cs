using Granary.Tests.Cluster.Infrastructure;
using Orleans.TestingHost;

namespace Granary.Tests.Cluster.Transactions;

/// <summary>Three in-process silos, memory storage, and transaction timeouts short enough for tests.</summary>
public sealed class TransactionsClusterFixture : GranaryTestClusterFixture
{
    /// <summary>The participants' prepared timeout configured here.</summary>
    public static readonly TimeSpan PreparedTimeout = TimeSpan.FromSeconds(4);

    /// <inheritdoc/>
    protected override Task ConfigureAsync(TestClusterBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Properties["Granary:Storage:Mode"] = "Memory";
        UseShortTimeouts(builder);
        return Task.CompletedTask;
    }

    /// <summary>The transaction timeouts of this fixture, for every cluster the transaction scenarios run on.</summary>
    internal static void UseShortTimeouts(TestClusterBuilder builder)
    {
        builder.Properties["Granary:Transactions:PrepareTimeout"] = "00:00:04"; // generous: the test machine is shared
        builder.Properties["Granary:Transactions:PreparedTimeout"] = "00:00:04";
        builder.Properties["Granary:Transactions:InquiryInterval"] = "00:00:00.200";
        builder.Properties["Granary:Transactions:CallTimeout"] = "00:00:05";
        builder.Properties["Granary:Transactions:RetryInitial"] = "00:00:00.020";
        builder.Properties["Granary:Transactions:RetryMax"] = "00:00:00.200";
        builder.Properties["Granary:Transactions:RecoveryScanInterval"] = "00:00:01";
    }
}

/// <summary>Collection sharing one <see cref="TransactionsClusterFixture"/>.</summary>
[CollectionDefinition(Name)]
public sealed class TransactionsClusterCollection : ICollectionFixture<TransactionsClusterFixture>
{
    /// <summary>Collection name.</summary>
    public const string Name = "transactions-cluster";
}
