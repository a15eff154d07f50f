using System.Globalization;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Granary.Cli.Cli;
using Granary.Server.Options;
using Microsoft.Extensions.Configuration;
using Npgsql;
using StackExchange.Redis;

namespace Granary.Bench.Cpu;

/// <summary>
/// Finds the processes a benchmark involves on this machine: the bench process itself (the client;
/// with <c>--embedded</c> also the silo), every active silo (by the silo port it listens on, from the
/// cluster's membership), each PostgreSQL server of the storage shards (the postmaster listening on
/// the shard's port, with its backends), the Redis server of the cluster, and whatever
/// <c>--cpu-process NAME=PID</c> or <c>NAME=:PORT</c> names. A server on another machine, or owned by
/// another user, cannot be read and is reported as not found.
/// </summary>
public static class CpuDiscovery
{
    /// <summary>Names of silo processes start with this (then the silo port).</summary>
    public const string SiloPrefix = "silo:";

    /// <summary>A meter watching the processes of <paramref name="connection"/>'s cluster, or null without a proc file system.</summary>
    public static async Task<CpuMeter?> DiscoverAsync(ClusterConnection connection, IEnumerable<string> extra, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(extra);
        var proc = new ProcFs();
        if (!proc.Available)
        {
            Output.Progress("cpu: no /proc here; CPU per operation is not reported");
            return null;
        }

        var meter = new CpuMeter(proc);
        meter.Watch(connection.Embedded ? "client+silo" : "client", Environment.ProcessId, withDescendants: false);
        if (!connection.Embedded)
        {
            try
            {
                var hosts = await connection.Grains.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true).WaitAsync(cancellationToken);
                foreach (var silo in hosts.Keys.OrderBy(s => s.Endpoint.Port))
                {
                    WatchListener(meter, proc, SiloPrefix + silo.Endpoint.Port.ToString(CultureInfo.InvariantCulture), silo.Endpoint.Address.ToString(), silo.Endpoint.Port);
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                Output.Progress($"cpu: could not list the silos ({ex.GetType().Name}: {ex.Message}); name them with --cpu-process silo=PID");
            }
        }

        foreach (var (host, port) in PostgresServers(connection.Configuration))
        {
            WatchListener(meter, proc, string.Create(CultureInfo.InvariantCulture, $"postgres:{port}"), host, port);
        }

        if (connection.Configuration["Granary:Cluster:RedisConnectionString"] is { Length: > 0 } redis)
        {
            WatchRedis(meter, redis);
        }

        foreach (var spec in extra)
        {
            WatchSpec(meter, proc, spec);
        }

        return meter;
    }

    /// <summary>Watches the Redis server(s) of a StackExchange.Redis connection string that run on this machine.</summary>
    public static void WatchRedis(CpuMeter meter, string connectionString)
    {
        ArgumentNullException.ThrowIfNull(meter);
        var proc = new ProcFs();
        foreach (var endpoint in ConfigurationOptions.Parse(connectionString).EndPoints)
        {
            var (host, port) = endpoint switch
            {
                DnsEndPoint dns => (dns.Host, dns.Port),
                IPEndPoint ip => (ip.Address.ToString(), ip.Port),
                _ => (string.Empty, 0),
            };
            if (port > 0)
            {
                WatchListener(meter, proc, string.Create(CultureInfo.InvariantCulture, $"redis:{port}"), host, port);
            }
        }
    }

    /// <summary>The connection strings of the PostgreSQL storage shards (<c>Granary:Storage:Shards</c>), in order.</summary>
    public static string[] StorageShards(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var storage = new GranaryStorageOptions();
        configuration.GetSection(GranaryStorageOptions.SectionName).Bind(storage);
        return storage.Shards;
    }

    /// <summary>The distinct (host, port) of the PostgreSQL storage shards.</summary>
    public static IReadOnlyList<(string Host, int Port)> PostgresServers(IConfiguration configuration) =>
        StorageShards(configuration)
            .Select(s => new NpgsqlConnectionStringBuilder(s))
            .Select(b => (Host: b.Host ?? "localhost", b.Port))
            .Distinct()
            .ToList();

    /// <summary>
    /// <c>NAME=PID</c> watches that process and its descendants; <c>NAME=:PORT</c> the process
    /// listening on that local TCP port.
    /// </summary>
    public static void WatchSpec(CpuMeter meter, ProcFs proc, string spec)
    {
        ArgumentNullException.ThrowIfNull(meter);
        ArgumentNullException.ThrowIfNull(proc);
        ArgumentNullException.ThrowIfNull(spec);
        var equals = spec.IndexOf('=', StringComparison.Ordinal);
        var name = equals > 0 ? spec[..equals] : string.Empty;
        var value = equals > 0 ? spec[(equals + 1)..] : string.Empty;
        if (value.StartsWith(':') && int.TryParse(value.AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is > 0 and <= 65535)
        {
            WatchListener(meter, proc, name, "127.0.0.1", port);
        }
        else if (int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && pid > 0)
        {
            if (proc.Stat(pid) is null)
            {
                throw new UsageException($"--cpu-process {spec}: no process {pid} to read");
            }

            meter.Watch(name, pid, withDescendants: true);
        }
        else
        {
            throw new UsageException($"--cpu-process must be NAME=PID or NAME=:PORT (got '{spec}')");
        }
    }

    /// <summary>Watches the process listening on <paramref name="host"/>:<paramref name="port"/> when the host is this machine.</summary>
    public static void WatchListener(CpuMeter meter, ProcFs proc, string name, string host, int port)
    {
        ArgumentNullException.ThrowIfNull(meter);
        ArgumentNullException.ThrowIfNull(proc);
        if (!IsThisMachine(host))
        {
            Output.Progress($"cpu: {name} runs on {host}, not on this machine; its CPU is not reported");
            return;
        }

        var pids = proc.ListeningProcesses(port);
        if (pids.Count == 0)
        {
            Output.Progress($"cpu: no readable process listens on port {port.ToString(CultureInfo.InvariantCulture)} for {name}; its CPU is not reported");
        }

        foreach (var pid in pids)
        {
            meter.Watch(name, pid, withDescendants: true);
        }
    }

    /// <summary>Whether <paramref name="host"/> names this machine (loopback, its name, or one of its addresses).</summary>
    public static bool IsThisMachine(string host)
    {
        if (string.IsNullOrEmpty(host) || host.Equals("localhost", StringComparison.OrdinalIgnoreCase) || host.Equals(Dns.GetHostName(), StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        if (host.StartsWith('/'))
        {
            return true; // a Unix-domain socket directory (PostgreSQL)
        }

        if (!IPAddress.TryParse(host, out var address))
        {
            return false;
        }

        if (IPAddress.IsLoopback(address) || address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any))
        {
            return true;
        }

        var mapped = address.AddressFamily == AddressFamily.InterNetworkV6 && address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
        return NetworkInterface.GetAllNetworkInterfaces()
            .SelectMany(n => n.GetIPProperties().UnicastAddresses)
            .Any(a => a.Address.Equals(mapped));
    }
}
