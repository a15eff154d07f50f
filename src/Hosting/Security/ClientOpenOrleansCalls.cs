using System.Collections.Frozen;
using Granary.Security;

namespace Granary.Hosting.Security;

/// <summary>
/// The methods of Orleans' own interfaces (system targets, grain extensions, the management grain) that
/// a client may call, with the permission each needs; every other method of a non-Granary interface is
/// refused to clients. Calls between silos are not limited by this list.
/// </summary>
internal static class ClientOpenOrleansCalls
{
    /// <summary>A grain timer's tick: a message a silo builds for its own activation (never received from the network).</summary>
    public const string TimerTick = "Orleans.Runtime.IGrainTimerInvoker.InvokeCallbackAsync";

    // Null: any client connection may call it (an Orleans client cannot start without it).
    private static readonly FrozenDictionary<string, Permission?> Open = new Dictionary<string, Permission?>(StringComparer.Ordinal)
    {
        // Every client reads the cluster's grain manifest from its gateway at start-up and on changes.
        ["Orleans.Runtime.IClusterManifestSystemTarget.GetClusterManifest"] = null,
        ["Orleans.Runtime.IClusterManifestSystemTarget.GetClusterManifestUpdate"] = null,

        // `granary cluster status` and the tests' cluster helpers: read-only views of the cluster.
        ["Orleans.Runtime.IManagementGrain.GetHosts"] = Permission.ClusterRead,
        ["Orleans.Runtime.IManagementGrain.GetDetailedHosts"] = Permission.ClusterRead,
        ["Orleans.Runtime.IManagementGrain.GetActivationAddress"] = Permission.ClusterRead,
        ["Orleans.Runtime.IManagementGrain.GetSimpleGrainStatistics"] = Permission.ClusterRead,
    }.ToFrozenDictionary(StringComparer.Ordinal);

    /// <summary>True (with the permission, null for any client) when clients may call <paramref name="method"/> (<c>Namespace.Interface.Method</c>).</summary>
    public static bool TryGet(string method, out Permission? permission) => Open.TryGetValue(method, out permission);
}
