using System.CommandLine;
using System.Globalization;
using Granary.Cli.Cli;
using Granary.Errors;
using Granary.Locks;

namespace Granary.Cli.Commands;

/// <summary><c>granary lock acquire|renew|release|status</c>: one lease operation per invocation.</summary>
public static class LockCommands
{
    /// <summary>Builds the command tree.</summary>
    public static Command Create()
    {
        var name = new Argument<string>("name") { Description = "Lock name (1-256 characters)" }.Named();
        var owner = new Option<string>("--owner") { Description = "Owner name", DefaultValueFactory = _ => "cli-" + Environment.MachineName }.Named();
        var ttl = new Option<double>("--ttl") { Description = "Lease ttl in seconds", DefaultValueFactory = _ => 30 };
        var wait = new Option<double>("--wait") { Description = "Seconds to wait for the lock (0 = try once)", DefaultValueFactory = _ => 0 };
        var requestId = new Option<string?>("--request-id") { Description = "Request id for idempotent retries (default: a new one)" }.NamedIfGiven();
        var type = new Option<string>("--type") { Description = "mutex, semaphore or rw", DefaultValueFactory = _ => "mutex" };
        var permits = new Option<int>("--permits") { Description = "Semaphore permits", DefaultValueFactory = _ => 1 };
        var read = new Option<bool>("--read") { Description = "Reader-writer lock: acquire as a reader" };
        var token = new Option<long>("--token") { Description = "Fencing token of the lease", Required = true };

        var acquire = new Command("acquire", "Acquire a lease (prints its fencing token); the lease lives until released or expired") { name, owner, ttl, wait, requestId, type, permits, read };
        acquire.SetHandler(async (parse, output, ct) =>
        {
            var lockType = (parse.GetValue(type) ?? "mutex").ToLowerInvariant() switch
            {
                "mutex" => LockType.Mutex,
                "semaphore" => LockType.Semaphore,
                "rw" or "reader-writer" => LockType.ReaderWriter,
                var other => throw new UsageException($"--type must be mutex, semaphore or rw (got '{other}')"),
            };
            var access = parse.GetValue(read) ? LockAccess.Shared : LockAccess.Exclusive;
            var waitFor = Seconds(parse.GetValue(wait), "--wait");
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            var grain = connection.Grains.GetGrain<ILockGrain>(Guard.Name(parse.GetValue(name), "name"));
            var id = parse.GetValue(requestId) ?? Guid.NewGuid().ToString("N");
            var clock = System.Diagnostics.Stopwatch.StartNew();
            while (true)
            {
                var remaining = waitFor - clock.Elapsed;
                var result = await grain.AcquireAsync(new AcquireRequest(parse.GetValue(owner)!, id, Seconds(parse.GetValue(ttl), "--ttl"), remaining < TimeSpan.Zero ? TimeSpan.Zero : remaining, lockType, access, parse.GetValue(permits)));
                if (result.Lease is { } lease)
                {
                    Print(output, lease);
                    return ExitCodes.Ok;
                }

                if (!result.StillWaiting)
                {
                    output.Document(new { Granted = false, RequestId = id });
                    await Console.Error.WriteLineAsync($"granary: {LockErrorCodes.Timeout}: lock '{parse.GetValue(name)}' not granted within {waitFor.TotalSeconds:0.###} s");
                    return ExitCodes.Failure;
                }

                Output.Progress(string.Create(CultureInfo.InvariantCulture, $"waiting, position {result.QueuePosition} in the queue"));
            }
        });

        var renew = new Command("renew", "Extend a lease you hold") { name, owner, token, ttl };
        renew.SetHandler(async (parse, output, ct) =>
        {
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            var lease = await connection.Grains.GetGrain<ILockGrain>(Guard.Name(parse.GetValue(name), "name")).RenewAsync(parse.GetValue(owner)!, parse.GetValue(token), Seconds(parse.GetValue(ttl), "--ttl"));
            Print(output, lease);
            return ExitCodes.Ok;
        });

        var release = new Command("release", "Release a lease you hold") { name, owner, token };
        release.SetHandler(async (parse, output, ct) =>
        {
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            await connection.Grains.GetGrain<ILockGrain>(Guard.Name(parse.GetValue(name), "name")).ReleaseAsync(parse.GetValue(owner)!, parse.GetValue(token));
            output.Document(new { Released = true, Name = parse.GetValue(name), Token = parse.GetValue(token) });
            output.Line(string.Create(CultureInfo.InvariantCulture, $"released '{parse.GetValue(name)}' token {parse.GetValue(token)}"));
            return ExitCodes.Ok;
        });

        var status = new Command("status", "Holders, last token and waiters of a lock") { name };
        status.SetHandler(async (parse, output, ct) =>
        {
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            var s = await connection.Grains.GetGrain<ILockGrain>(Guard.Name(parse.GetValue(name), "name")).GetStatusAsync();
            output.Document(s);
            output.Line(string.Create(CultureInfo.InvariantCulture, $"lock '{s.Name}': {s.Type}{(s.Type == LockType.Semaphore ? $" ({s.Permits} permits)" : string.Empty)}, {s.Durability}, last token {s.LastToken}, hosted by {s.HostedBy}"));
            if (s.GrantsBlockedUntil is { } blocked)
            {
                output.Line($"grants blocked until {blocked:O} (lock-delay after an unclean restart)");
            }

            output.Table(["HOLDER", "TOKEN", "ACCESS", "EXPIRES"], s.Holders.Select(h => (IReadOnlyList<string>)[h.Owner, h.Token.ToString(CultureInfo.InvariantCulture), h.Access.ToString(), h.ExpiresAt.ToString("O", CultureInfo.InvariantCulture)]));
            output.Line(string.Create(CultureInfo.InvariantCulture, $"{s.Waiters.Count} waiter(s){(s.Waiters.Count > 0 ? ": " + string.Join(", ", s.Waiters.Select(w => w.Owner)) : string.Empty)}"));
            return ExitCodes.Ok;
        });

        return new Command("lock", "Lock leases: acquire, renew, release, status") { acquire, renew, release, status };
    }

    private static TimeSpan Seconds(double value, string option)
    {
        if (double.IsNaN(value) || value < 0 || value > 86_400)
        {
            throw new UsageException($"{option} must be between 0 and 86400 seconds (got {value})");
        }

        return TimeSpan.FromSeconds(value);
    }

    private static void Print(Output output, LockLease lease)
    {
        output.Document(lease);
        output.Line(string.Create(CultureInfo.InvariantCulture, $"granted '{lease.Name}' to {lease.Owner}: token {lease.Token}, expires {lease.ExpiresAt:O} (request id {lease.RequestId})"));
    }
}
