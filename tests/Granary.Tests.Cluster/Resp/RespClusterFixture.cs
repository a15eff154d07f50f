using Granary.Server.Resp;
using Granary.Tests.Cluster.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;

namespace Granary.Tests.Cluster.Resp;

/// <summary>
/// Two in-process silos with memory storage, each hosting the RESP endpoint on a free port, with a
/// password (every test authenticates, as clients of a protected endpoint do).
/// </summary>
public sealed class RespClusterFixture : GranaryTestClusterFixture
{
    /// <summary>The endpoint's password.</summary>
    public string Password { get; } = Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));

    /// <summary>Largest bulk string the endpoint accepts (small, so that the limit is cheap to cross).</summary>
    public const int MaxBulkLength = 256 * 1024;

    /// <summary>Most arguments per command the endpoint accepts.</summary>
    public const int MaxMultibulkCount = 4096;

    /// <summary>The RESP port of each silo, in silo order.</summary>
    public IReadOnlyList<int> Ports => [.. Cluster.Silos.OfType<InProcessSiloHandle>().Select(s => s.SiloHost.Services.GetRequiredService<RespEndpoint>().LocalEndPoint!.Port)];

    /// <summary>The first silo's RESP port.</summary>
    public int Port => Ports[0];

    /// <summary>A StackExchange.Redis configuration string for <see cref="Port"/>.</summary>
    public string ConnectionString => $"127.0.0.1:{Port},password={Password},abortConnect=false";

    /// <summary>Opens a raw connection to <paramref name="port"/> (default: the first silo) and authenticates.</summary>
    public async Task<RespWire> ConnectAsync(int? port = null)
    {
        var wire = await RespWire.ConnectAsync(port ?? Port);
        var reply = await wire.CallTextAsync("AUTH", Password);
        Assert.Equal("+OK\r\n", reply);
        return wire;
    }

    /// <inheritdoc/>
    protected override short InitialSilos => 2;

    /// <inheritdoc/>
    protected override Task ConfigureAsync(TestClusterBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Properties["Granary:Storage:Mode"] = "Memory";
        builder.Properties["Granary:Resp:Port"] = "0";
        builder.Properties["Granary:Resp:Password"] = Password;
        builder.Properties["Granary:Resp:Databases:0"] = "default";
        builder.Properties["Granary:Resp:Databases:1"] = "resp-second";
        builder.Properties["Granary:Resp:MaxBulkLength"] = MaxBulkLength.ToString(System.Globalization.CultureInfo.InvariantCulture);
        builder.Properties["Granary:Resp:MaxMultibulkCount"] = MaxMultibulkCount.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return Task.CompletedTask;
    }
}
