using System.CommandLine;
using System.Globalization;
using Granary.Cli.Cli;
using Granary.Client.Transactions;
using Granary.Errors;
using Granary.Transactions;

namespace Granary.Cli.Commands;

/// <summary><c>granary tx ...</c>: two-phase commit transfers and checkouts, their records, stuck transactions and sagas.</summary>
public static class TxCommands
{
    /// <summary>Builds the command tree.</summary>
    public static Command Create()
    {
        var tx = new Command("tx", "Transactions: two-phase commit transfers and checkouts, status, stuck transactions, sagas");
        tx.Subcommands.Add(Open());
        tx.Subcommands.Add(Balance());
        tx.Subcommands.Add(Transfer());
        tx.Subcommands.Add(Checkout());
        tx.Subcommands.Add(Status());
        tx.Subcommands.Add(ListStuck());
        tx.Subcommands.Add(Saga());
        return tx;
    }

    private static Option<string> IdOption() => new Option<string>("--id") { Description = "Transaction id (default: a new one). Retrying with the same id is safe." }.Named();

    private static Option<string> ProtocolOption() => new("--protocol")
    {
        Description = "2pc (default: durable decision, presumed abort; may wait for its coordinator, never splits) or 3pc (participants decide on timeouts; assumes bounded delays and no partitions)",
        DefaultValueFactory = _ => "2pc",
    };

    private static TxProtocol ParseProtocol(string? text) => (text ?? "2pc").ToLowerInvariant() switch
    {
        "2pc" => TxProtocol.TwoPhase,
        "3pc" => TxProtocol.ThreePhase,
        _ => throw new UsageException($"--protocol must be 2pc or 3pc (got '{text}')"),
    };

    private static Command Open()
    {
        var account = new Argument<string>("account") { Description = "Account name" }.Named();
        var balance = new Option<long>("--balance") { Description = "Initial balance in minor units", DefaultValueFactory = _ => 0 };
        var cmd = new Command("open", "Open an account") { account, balance };
        cmd.SetHandler(async (parse, output, ct) =>
        {
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            var snapshot = await connection.Grains.GetGrain<IAccountGrain>(parse.GetValue(account)!).OpenAsync(parse.GetValue(balance));
            output.Document(snapshot);
            output.Line(string.Create(CultureInfo.InvariantCulture, $"account {snapshot.Key}: balance {snapshot.Balance}"));
            return ExitCodes.Ok;
        });
        return cmd;
    }

    private static Command Balance()
    {
        var account = new Argument<string>("account") { Description = "Account name" }.Named();
        var cmd = new Command("balance", "Show an account: balance, holds, pending credits, prepared transactions") { account };
        cmd.SetHandler(async (parse, output, ct) =>
        {
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            var grain = connection.Grains.GetGrain<IAccountGrain>(parse.GetValue(account)!);
            var s = await grain.GetAsync();
            var txs = await grain.GetTransactionsAsync();
            output.Document(new { Account = s, Transactions = txs });
            output.Line(s.Exists
                ? string.Create(CultureInfo.InvariantCulture, $"account {s.Key}: balance {s.Balance}, held {s.Held}, pending credits {s.PendingCredits}, prepared {s.Prepared}")
                : $"account {s.Key} does not exist");
            foreach (var t in txs.Where(t => t.Status == nameof(ParticipantStatus.Prepared)))
            {
                output.Line($"  prepared {t.TransactionId} since {t.Since:O}: {t.Reservation}");
            }

            return s.Exists ? ExitCodes.Ok : ExitCodes.Failure;
        });
        return cmd;
    }

    private static Command Transfer()
    {
        var from = new Option<string>("--from") { Description = "Account to debit", Required = true }.Named();
        var to = new Option<string>("--to") { Description = "Account to credit", Required = true }.Named();
        var amount = new Option<long>("--amount") { Description = "Amount in minor units", Required = true };
        var id = IdOption();
        var protocol = ProtocolOption();
        var cmd = new Command("transfer", "Move money between two accounts atomically (two-phase commit, or three-phase with --protocol 3pc)") { from, to, amount, id, protocol };
        cmd.SetHandler(async (parse, output, ct) =>
        {
            var chosen = ParseProtocol(parse.GetValue(protocol));
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            var result = await new TransactionClient(connection.Grains).TransferAsync(parse.GetValue(from)!, parse.GetValue(to)!, parse.GetValue(amount), parse.GetValue(id), chosen);
            Print(output, result);
            return ExitCodes.Ok;
        });
        return cmd;
    }

    private static Command Checkout()
    {
        var wallet = new Option<string>("--wallet") { Description = "Account paying", Required = true }.Named();
        var shop = new Option<string>("--shop") { Description = "Shop whose stock is taken", Required = true }.Named();
        var items = new Option<string[]>("--item") { Description = "SKU=QUANTITY (repeatable)", Required = true, AllowMultipleArgumentsPerToken = true };
        var total = new Option<long>("--total") { Description = "Amount to debit in minor units", Required = true };
        var coupon = new Option<string?>("--coupon") { Description = "Single-use coupon to redeem" }.NamedIfGiven();
        var id = IdOption();
        var protocol = ProtocolOption();
        var cmd = new Command("checkout", "Take stock, debit the wallet and redeem a coupon, all or nothing") { wallet, shop, items, total, coupon, id, protocol };
        cmd.SetHandler(async (parse, output, ct) =>
        {
            var lines = (parse.GetValue(items) ?? []).Select(ParseItem).ToList();
            var chosen = ParseProtocol(parse.GetValue(protocol));
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            var result = await new TransactionClient(connection.Grains).CheckoutAsync(parse.GetValue(wallet)!, parse.GetValue(shop)!, lines, parse.GetValue(total), parse.GetValue(coupon), parse.GetValue(id), chosen);
            Print(output, result);
            return ExitCodes.Ok;
        });
        return cmd;
    }

    private static Command Status()
    {
        var id = new Argument<string>("id") { Description = "Transaction id" }.Named();
        var protocol = ProtocolOption();
        var cmd = new Command("status", "A coordinator's record: phase, decision, who has not acknowledged") { id, protocol };
        cmd.SetHandler(async (parse, output, ct) =>
        {
            var chosen = ParseProtocol(parse.GetValue(protocol));
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            var s = chosen == TxProtocol.ThreePhase
                ? await connection.Grains.GetGrain<IThreePhaseCommitCoordinatorGrain>(parse.GetValue(id)!).GetStatusAsync()
                : await connection.Grains.GetGrain<ITwoPhaseCommitCoordinatorGrain>(parse.GetValue(id)!).GetStatusAsync();
            output.Document(s);
            output.Line($"transaction {s.TransactionId}: phase {s.Phase}, decision {s.Decision}{(s.AbortReason is null ? string.Empty : " (" + s.AbortReason + ")")}");
            output.Line($"  participants: {string.Join(", ", s.Participants)}");
            if (s.Unacknowledged.Count > 0)
            {
                output.Line($"  not acknowledged yet: {string.Join(", ", s.Unacknowledged)}");
            }

            return ExitCodes.Ok;
        });
        return cmd;
    }

    private static Command ListStuck()
    {
        var cmd = new Command("list-stuck", "Transactions decided but not yet acknowledged by every participant (the recovery registry)");
        cmd.SetHandler(async (parse, output, ct) =>
        {
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            var rows = new List<(string Id, DateTimeOffset Since, TransactionStatusView Status)>();
            for (var bucket = 0; bucket < ITransactionRecoveryGrain.Buckets; bucket++)
            {
                foreach (var (txId, since) in await connection.Grains.GetGrain<ITransactionRecoveryGrain>(bucket).ListAsync())
                {
                    rows.Add((txId, since, await connection.Grains.GetGrain<ITwoPhaseCommitCoordinatorGrain>(txId).GetStatusAsync()));
                }
            }

            output.Document(rows.Select(r => new { TransactionId = r.Id, r.Since, r.Status }));
            output.Table(
                ["TRANSACTION", "SINCE", "PHASE", "DECISION", "NOT ACKNOWLEDGED"],
                rows.OrderBy(r => r.Since).Select(r => (IReadOnlyList<string>)[r.Id, r.Since.ToString("O", CultureInfo.InvariantCulture), r.Status.Phase, r.Status.Decision, string.Join(",", r.Status.Unacknowledged)]));
            output.Line(string.Create(CultureInfo.InvariantCulture, $"{rows.Count} unfinished transaction(s)"));
            return ExitCodes.Ok;
        });
        return cmd;
    }

    private static Command Saga()
    {
        var id = new Argument<string>("id") { Description = "Saga id" }.Named();
        var status = new Command("status", "A saga's status and journal") { id };
        status.SetHandler(async (parse, output, ct) =>
        {
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            var view = await connection.Grains.GetGrain<ISagaGrain>(parse.GetValue(id)!).GetAsync();
            if (view.Status == SagaView.UnknownStatus)
            {
                throw new GranaryException(ErrorCodes.NotFound, $"no saga '{view.SagaId}' (never started)");
            }

            PrintSaga(output, view);
            return ExitCodes.Ok;
        });
        var retryId = new Argument<string>("id") { Description = "Saga id" }.Named();
        var retry = new Command("retry", "Retry the compensations of a saga in CompensationFailed") { retryId };
        retry.SetHandler(async (parse, output, ct) =>
        {
            await using var connection = await GlobalOptions.ConnectAsync(parse, ct);
            PrintSaga(output, await connection.Grains.GetGrain<ISagaGrain>(parse.GetValue(retryId)!).RetryCompensationAsync());
            return ExitCodes.Ok;
        });
        return new Command("saga", "Sagas: status and operator retry") { status, retry };
    }

    private static (string Sku, int Quantity) ParseItem(string text)
    {
        var parts = text.Split('=', 2);
        if (parts.Length != 2 || parts[0].Length == 0 || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var quantity) || quantity < 1)
        {
            throw new UsageException($"--item must be SKU=QUANTITY with a positive quantity (got '{text}')");
        }

        return (parts[0], quantity);
    }

    private static void Print(Output output, TransactionResult result)
    {
        output.Document(result);
        output.Line($"transaction {result.TransactionId}: {result.Outcome}{(result.Replayed ? " (replayed: this id already ran)" : string.Empty)}{(result.Unacknowledged > 0 ? $", {result.Unacknowledged} participant(s) still to acknowledge" : string.Empty)}");
    }

    private static void PrintSaga(Output output, SagaView view)
    {
        output.Document(view);
        output.Line($"saga {view.SagaId}: {view.Status} at step {view.Step}{(view.LastError is null ? string.Empty : ", last error: " + view.LastError)}");
        foreach (var line in view.Journal)
        {
            output.Line("  " + line);
        }
    }
}
