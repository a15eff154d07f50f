using System.Diagnostics;
using System.Globalization;
using Npgsql;

namespace Granary.Tests.Cluster.Infrastructure;

/// <summary>
/// A private PostgreSQL server (initdb + pg_ctl) in a temporary directory on a free
/// loopback port, for one test run.
/// </summary>
/// <remarks>
/// When the test process runs as root the data directory is given to the
/// <c>postgres</c> user and the server tools run as that user, since initdb and
/// postgres refuse to run as root. Authentication is <c>scram-sha-256</c> for user
/// <c>postgres</c> with a password generated per server (<see cref="Password"/>, which
/// <see cref="ConnectionString"/> carries), as for the servers the scripts start; the server
/// listens on 127.0.0.1 and on a socket in its own directory only.
/// <code>
/// await using var pg = await PostgresServer.StartAsync(durable: false);
/// await pg.CreateDatabaseAsync("shard0");
/// await using var connection = new NpgsqlConnection(pg.ConnectionString("shard0"));
/// </code>
/// </remarks>
public sealed class PostgresServer : IAsyncDisposable
{
    private const string SuperUser = "postgres";
    private const int MaxPortAttempts = 3;
    private const int LogTailLines = 40;

    private static readonly TimeSpan InitDbTimeout = TimeSpan.FromSeconds(120);
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(50);

    private static readonly string[] ToolDirectories = ["/usr/local/bin", "/usr/bin", "/usr/lib/postgresql/*/bin"];

    private readonly string _pgCtl;
    private readonly string _directory;
    private int _disposed;

    private PostgresServer(string pgCtl, string directory, int port, bool durable, string password, TimeSpan initDbTime, TimeSpan startTime)
    {
        Password = password;
        _pgCtl = pgCtl;
        _directory = directory;
        Port = port;
        Durable = durable;
        InitDbTime = initDbTime;
        StartTime = startTime;
    }

    /// <summary>The loopback TCP port the server listens on.</summary>
    public int Port { get; }

    /// <summary>The password of user <c>postgres</c>, generated when the server was initialised.</summary>
    public string Password { get; }

    /// <summary>False when the server runs with <c>fsync=off</c> (fast, loses data if the machine crashes).</summary>
    public bool Durable { get; }

    /// <summary>The server's data directory.</summary>
    public string DataDirectory => Path.Combine(_directory, "data");

    /// <summary>The server's log file.</summary>
    public string LogFile => Path.Combine(_directory, "postgres.log");

    /// <summary>How long initdb took.</summary>
    public TimeSpan InitDbTime { get; }

    /// <summary>How long starting the server took, up to the first successful <c>SELECT 1</c>.</summary>
    public TimeSpan StartTime { get; }

    /// <summary>Starts a durable server (<c>fsync=on</c>).</summary>
    public static Task<PostgresServer> StartAsync(CancellationToken ct = default) => StartAsync(durable: true, ct);

    /// <summary>Starts a server and returns once it answers <c>SELECT 1</c> over TCP.</summary>
    /// <param name="durable">False runs with <c>fsync=off</c>: much faster commits, for tests only.</param>
    /// <param name="ct">Cancels the start.</param>
    /// <exception cref="InvalidOperationException">The PostgreSQL tools are missing, or the server failed to start; the message carries the log tail.</exception>
    public static async Task<PostgresServer> StartAsync(bool durable, CancellationToken ct = default)
    {
        var initDb = FindTool("initdb");
        var pgCtl = FindTool("pg_ctl");

        var directory = CreateDirectory();
        var password = Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(24));
        try
        {
            var initDbTime = await InitDbAsync(initDb, directory, password, ct);
            for (var attempt = 1; ; attempt++)
            {
                var port = FreePort.Next();
                var logFile = Path.Combine(directory, "postgres.log");
                File.Delete(logFile);
                var started = Stopwatch.StartNew();
                var result = await PgCtlStartAsync(pgCtl, directory, port, durable, logFile, ct);
                if (result.ExitCode != 0)
                {
                    var log = OutputTail.OfFile(logFile, LogTailLines);
                    if (attempt < MaxPortAttempts && log.Contains("could not bind", StringComparison.OrdinalIgnoreCase))
                    {
                        // Another process took the port after FreePort.Next(): try another one.
                        continue;
                    }

                    throw new InvalidOperationException(
                        $"PostgreSQL did not start on port {port}: {result.CommandLine} exited with code {result.ExitCode}.{Environment.NewLine}" +
                        $"pg_ctl output:{Environment.NewLine}{result.Output}{Environment.NewLine}Server log ({logFile}):{Environment.NewLine}{log}");
                }

                await WaitUntilReadyAsync(port, password, logFile, ct);
                return new PostgresServer(pgCtl, directory, port, durable, password, initDbTime, started.Elapsed);
            }
        }
        catch
        {
            await StopAndDeleteAsync(pgCtl, directory);
            throw;
        }
    }

    /// <summary>An Npgsql connection string for <paramref name="database"/> as user postgres with its password, pooled.</summary>
    public string ConnectionString(string database)
    {
        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1",
            Port = Port,
            Username = SuperUser,
            Password = Password,
            Database = database,
            Pooling = true,
        };
        return builder.ConnectionString;
    }

    /// <summary>Creates an empty database (from template1).</summary>
    public async Task CreateDatabaseAsync(string name, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        await using var connection = new NpgsqlConnection(ConnectionString("postgres"));
        await connection.OpenAsync(ct);
        await using var command = connection.CreateCommand();
        command.CommandText = $"CREATE DATABASE \"{name.Replace("\"", "\"\"", StringComparison.Ordinal)}\"";
        await command.ExecuteNonQueryAsync(ct);
    }

    /// <summary>
    /// Terminates every client connection of <paramref name="database"/> (all databases when null)
    /// with <c>pg_terminate_backend</c>, from an admin connection of its own that is not pooled: each
    /// one's statement in progress fails with 57P01 and rolls back, unless its commit had already
    /// happened. Returns how many were terminated.
    /// </summary>
    public async Task<int> TerminateBackendsAsync(string? database = null, CancellationToken ct = default)
    {
        var admin = new NpgsqlConnectionStringBuilder(ConnectionString("postgres")) { Pooling = false, Timeout = 5 };
        await using var connection = new NpgsqlConnection(admin.ConnectionString);
        await connection.OpenAsync(ct);
        await using var command = new NpgsqlCommand(
            """
            SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int FROM pg_stat_activity
            WHERE pid <> pg_backend_pid() AND backend_type = 'client backend' AND (@db::text IS NULL OR datname = @db)
            """,
            connection);
        command.Parameters.AddWithValue("db", (object?)database ?? DBNull.Value);
        return (int)(await command.ExecuteScalarAsync(ct))!;
    }

    /// <summary>
    /// Crashes the server: SIGKILL to the postmaster and to every process it started, as when the
    /// machine loses power (what the server wrote but did not fsync is up to the OS; with
    /// <see cref="Durable"/> every commit it acknowledged was fsynced). <see cref="RestartAsync"/>
    /// starts it again on the same data directory and port.
    /// </summary>
    /// <param name="ct">Cancels the crash.</param>
    public async Task CrashAsync(CancellationToken ct = default)
    {
        var postmaster = PostmasterPid(DataDirectory) ?? throw new InvalidOperationException("The server is not running (no postmaster.pid).");

        // Freeze the postmaster first: under load it forks a backend for every new connection, and
        // one forked between listing its children and killing it would survive, holding the shared
        // memory, and the restart would refuse to start.
        var kill = ChildProcess.FindExecutable("kill", "/usr/bin", "/bin") ?? throw new InvalidOperationException("kill (procps) is needed to crash the server.");
        var pid = postmaster.ToString(CultureInfo.InvariantCulture);
        (await ChildProcess.RunAsync(kill, ["-STOP", pid], StopTimeout, ct)).EnsureSuccess();

        // kill returns once the signal is sent, not once the postmaster has stopped: a fork it was
        // making may still complete. List its children only once it is stopped.
        await Eventually.TrueAsync($"the postmaster {pid} stopped", () => StateOf(postmaster) is 'T' or 't' or 'Z' or 'X' or null, StopTimeout);
        var victims = ChildrenOf(postmaster).Prepend(postmaster).ToList();
        await ChildProcess.RunAsync(kill, ["-KILL", .. victims.Select(v => v.ToString(CultureInfo.InvariantCulture))], StopTimeout, ct);
        foreach (var victim in victims)
        {
            try
            {
                using var process = Process.GetProcessById(victim);
                await process.WaitForExitAsync(ct).WaitAsync(StopTimeout, ct);
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException)
            {
                // Already gone.
            }
        }

        // Every process of a server runs in its data directory. One the listing above missed would
        // keep the shared memory attached, and the restart would refuse to start ("pre-existing
        // shared memory block is still in use"): kill whatever is left there until nothing is.
        await Eventually.TrueAsync(
            $"every process of the crashed server in {DataDirectory} exited",
            () =>
            {
                var left = ProcessesIn(DataDirectory);
                foreach (var survivor in left)
                {
                    try
                    {
                        using var process = Process.GetProcessById(survivor);
                        process.Kill();
                    }
                    catch (Exception e) when (e is ArgumentException or InvalidOperationException)
                    {
                        // Gone meanwhile.
                    }
                }

                return left.Count == 0;
            },
            StopTimeout);
    }

    /// <summary>
    /// Starts the server again on its data directory and port after <see cref="CrashAsync"/> (it runs crash
    /// recovery from its WAL first) and returns once it answers <c>SELECT 1</c>; returns how long that took.
    /// </summary>
    public async Task<TimeSpan> RestartAsync(CancellationToken ct = default)
    {
        var logFile = LogFile;
        var started = Stopwatch.StartNew();
        var result = await PgCtlStartAsync(_pgCtl, _directory, Port, Durable, logFile, ct);
        if (result.ExitCode != 0)
        {
            // The log is full of the terminations that preceded the crash: show the other lines.
            var log = string.Join(Environment.NewLine, OutputTail.OfFile(logFile, 400).Split('\n').Where(l => !l.Contains("terminating connection due to administrator command", StringComparison.Ordinal)).TakeLast(LogTailLines));
            throw new InvalidOperationException(
                $"PostgreSQL did not restart on port {Port}: {result.CommandLine} exited with code {result.ExitCode}.{Environment.NewLine}" +
                $"pg_ctl output:{Environment.NewLine}{result.Output}{Environment.NewLine}Server log:{Environment.NewLine}{log}");
        }

        await WaitUntilReadyAsync(Port, Password, logFile, ct);
        return started.Elapsed;
    }

    /// <summary>Stops the server (<c>pg_ctl stop -m immediate</c>, its data is thrown away) and deletes its directory.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        // Pooled connections to this server would only fail later; drop them now.
        NpgsqlConnection.ClearAllPools();
        await StopAndDeleteAsync(_pgCtl, _directory);
    }

    private static string FindTool(string name) =>
        ChildProcess.FindExecutable(name, ToolDirectories)
        ?? throw new InvalidOperationException(
            $"{name} was not found on PATH, in /usr/local/bin, /usr/bin or /usr/lib/postgresql/*/bin. " +
            "Run scripts/test.sh, which installs PostgreSQL (Debian package postgresql).");

    private static string CreateDirectory()
    {
        var directory = Directory.CreateTempSubdirectory("granary-pg-").FullName;
        Directory.CreateDirectory(Path.Combine(directory, "sock"));
        if (ChildProcess.IsRoot && !OperatingSystem.IsWindows())
        {
            // The postgres user must be able to reach and own everything below this directory.
            File.SetUnixFileMode(
                directory,
                UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
                UnixFileMode.GroupRead | UnixFileMode.GroupExecute |
                UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        }

        return directory;
    }

    private static async Task<TimeSpan> InitDbAsync(string initDb, string directory, string password, CancellationToken ct)
    {
        // initdb reads the password from a file; only the server's user may read it, and it goes with the directory.
        var passwordFile = Path.Combine(directory, "password");
        await File.WriteAllTextAsync(passwordFile, password, ct);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(passwordFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        if (ChildProcess.IsRoot)
        {
            (await ChildProcess.RunAsync("chown", ["-R", $"{SuperUser}:", directory], TimeSpan.FromSeconds(30), ct))
                .EnsureSuccess();
        }

        var timer = Stopwatch.StartNew();
        var result = await ChildProcess.RunAsync(
            initDb,
            ["-D", Path.Combine(directory, "data"), "-A", "scram-sha-256", "-U", SuperUser, "--pwfile=" + passwordFile, "--no-sync", "-E", "UTF8", "--locale=C"],
            InitDbTimeout,
            ct,
            runAs: SuperUser);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"initdb failed with code {result.ExitCode} ({result.CommandLine}). Output:{Environment.NewLine}{result.Output}");
        }

        return timer.Elapsed;
    }

    private static Task<CommandResult> PgCtlStartAsync(string pgCtl, string directory, int port, bool durable, string logFile, CancellationToken ct) =>
        ChildProcess.RunAsync(
            pgCtl,
            [
                "start", "-w", "-t", ((int)StartTimeout.TotalSeconds).ToString(CultureInfo.InvariantCulture),
                "-D", Path.Combine(directory, "data"),
                "-l", logFile,
                "-o", ServerOptions(directory, port, durable),
            ],
            StartTimeout + TimeSpan.FromSeconds(10),
            ct,
            runAs: SuperUser);

    // wal_init_zero=off, as scripts/lib/servers.sh starts its servers: a new server creates a WAL
    // file for every 16 MB of WAL until its first checkpoints and would fill each with zeros first,
    // which the commits behind it wait for (docs/benchmarks.md, Method).
    private static string ServerOptions(string directory, int port, bool durable) =>
        string.Join(
            ' ',
            $"-p {port.ToString(CultureInfo.InvariantCulture)}",
            "-c listen_addresses=127.0.0.1",
            $"-c unix_socket_directories={Path.Combine(directory, "sock")}",
            "-c max_connections=300",
            "-c wal_init_zero=off",
            durable ? "-c fsync=on" : "-c fsync=off");

    private static async Task WaitUntilReadyAsync(int port, string password, string logFile, CancellationToken ct)
    {
        // pg_ctl -w already waited for the server to accept connections; this proves it over TCP.
        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1",
            Port = port,
            Username = SuperUser,
            Password = password,
            Database = "postgres",
            Pooling = false,
            Timeout = 5,
        };
        Exception? lastError = null;
        async Task<bool> AnswersAsync()
        {
            ct.ThrowIfCancellationRequested();
            try
            {
                await using var connection = new NpgsqlConnection(builder.ConnectionString);
                await connection.OpenAsync(ct);
                await using var command = new NpgsqlCommand("SELECT 1", connection);
                return await command.ExecuteScalarAsync(ct) is 1;
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException)
            {
                lastError = e;
                return false;
            }
        }

        try
        {
            await Eventually.TrueAsync($"PostgreSQL on port {port} answers SELECT 1", AnswersAsync, StartTimeout, PollInterval);
        }
        catch (TimeoutException e)
        {
            throw new InvalidOperationException(
                $"PostgreSQL on port {port} did not answer SELECT 1 within {StartTimeout.TotalSeconds:0} s " +
                $"(last error: {lastError?.Message ?? "none"}). Server log:{Environment.NewLine}{OutputTail.OfFile(logFile, LogTailLines)}", e);
        }
    }

    private static async Task StopAndDeleteAsync(string pgCtl, string directory)
    {
        var dataDirectory = Path.Combine(directory, "data");
        if (File.Exists(Path.Combine(dataDirectory, "postmaster.pid")))
        {
            var result = await ChildProcess.RunAsync(
                pgCtl,
                ["stop", "-m", "immediate", "-w", "-t", ((int)StopTimeout.TotalSeconds).ToString(CultureInfo.InvariantCulture), "-D", dataDirectory],
                StopTimeout + TimeSpan.FromSeconds(10),
                CancellationToken.None,
                runAs: SuperUser);
            if (result.ExitCode != 0)
            {
                KillPostmaster(dataDirectory);
            }
        }

        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }

    private static int? PostmasterPid(string dataDirectory)
    {
        var pidFile = Path.Combine(dataDirectory, "postmaster.pid");
        var firstLine = File.Exists(pidFile) ? File.ReadLines(pidFile).FirstOrDefault() : null;
        return int.TryParse(firstLine, NumberStyles.Integer, CultureInfo.InvariantCulture, out var pid) ? pid : null;
    }

    /// <summary>The state letter of <paramref name="pid"/> in /proc (<c>T</c> stopped, <c>Z</c> zombie...); null when it is gone.</summary>
    private static char? StateOf(int pid) =>
        StatFields("/proc/" + pid.ToString(CultureInfo.InvariantCulture)) is { } fields ? fields[0][0] : null;

    /// <summary>
    /// The fields of <c>&lt;processDirectory&gt;/stat</c> after the command name ("pid (comm) state
    /// ppid ..."; comm may contain spaces, so the fields start after its ')'): state first, then the
    /// parent's pid. Null when the process ended meanwhile.
    /// </summary>
    private static string[]? StatFields(string processDirectory)
    {
        try
        {
            var stat = File.ReadAllText(Path.Combine(processDirectory, "stat"));
            return stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>The live processes whose working directory is <paramref name="directory"/> (from /proc; zombies have none).</summary>
    private static List<int> ProcessesIn(string directory)
    {
        var wanted = Path.GetFullPath(directory).TrimEnd('/');
        var found = new List<int>();
        foreach (var entry in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(entry), NumberStyles.Integer, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            try
            {
                if (string.Equals(new DirectoryInfo(Path.Combine(entry, "cwd")).LinkTarget?.TrimEnd('/'), wanted, StringComparison.Ordinal))
                {
                    found.Add(pid);
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Ended meanwhile, or not ours to look at.
            }
        }

        return found;
    }

    /// <summary>The processes whose parent is <paramref name="parent"/> (from /proc).</summary>
    private static List<int> ChildrenOf(int parent)
    {
        var children = new List<int>();
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), NumberStyles.Integer, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            if (StatFields(directory) is { } fields && int.Parse(fields[1], CultureInfo.InvariantCulture) == parent)
            {
                children.Add(pid);
            }
        }

        return children;
    }

    /// <summary>Last resort when pg_ctl cannot stop the server: kill the postmaster named in its pid file.</summary>
    private static void KillPostmaster(string dataDirectory)
    {
        try
        {
            var firstLine = File.ReadLines(Path.Combine(dataDirectory, "postmaster.pid")).FirstOrDefault();
            if (int.TryParse(firstLine, NumberStyles.Integer, CultureInfo.InvariantCulture, out var pid))
            {
                using var postmaster = Process.GetProcessById(pid);
                postmaster.Kill(entireProcessTree: true);
                postmaster.WaitForExit(StopTimeout);
            }
        }
        catch (Exception e) when (e is IOException or ArgumentException or InvalidOperationException)
        {
            // Already gone.
        }
    }
}
