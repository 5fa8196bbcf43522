using System.Diagnostics;
using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

namespace ReverseSD.MLNet.Heads;

/// <summary>One epoch of heads training: mean loss parts over its batches and the validation mean cosine.</summary>
/// <param name="Epoch">1-based epoch number over the whole schedule.</param>
/// <param name="Stage">0-based index of the schedule stage the epoch belongs to.</param>
/// <param name="Loss">Mean total loss L = L1 + λ·L2 (+ Huber term when enabled).</param>
/// <param name="CosineLoss">Mean L1 = 1 − cos(f(x), s(y)) (paper Eq. 1).</param>
/// <param name="VocabularyLoss">Mean L2, binary cross-entropy of the vocabulary head (0 for vanilla).</param>
/// <param name="ValidationMeanCosine">Mean cosine on the validation data, NaN without validation data.</param>
/// <param name="Seconds">Wall time of the epoch.</param>
public sealed record HeadsEpochSummary(
    int Epoch, int Stage, double Loss, double CosineLoss, double VocabularyLoss, double ValidationMeanCosine, double Seconds);

/// <summary>
/// One stage of a training schedule: the training samples it draws batches from and how long it runs,
/// in passes over those samples (<paramref name="Epochs"/>) or in optimizer steps (<paramref name="Steps"/>); exactly one is positive.
/// A curriculum (paper §3) is a sequence of stages over growing easy-to-hard subsets; plain training is one stage over all samples.
/// </summary>
internal sealed record TrainingStage(IReadOnlyList<int> SampleIndices, int Epochs = 0, int Steps = 0);

/// <summary>Training tensors on the training device: features [n, d], targets [n, 384] (unit norm), multi-hot labels [n, m] or null.</summary>
internal sealed class HeadsTensors : IDisposable
{
    public HeadsTensors(float[][] features, float[][] targets, float[][]? labels, Device device)
    {
        if (features.Length != targets.Length || (labels != null && labels.Length != features.Length))
            throw new ArgumentException("Features, targets and labels must have the same number of rows.");
        Count = features.Length;
        Features = ToTensor(features, device);
        Targets = ToTensor(targets, device);
        Labels = labels == null ? null : ToTensor(labels, device);
    }

    public int Count { get; }

    public Tensor Features { get; }

    public Tensor Targets { get; }

    public Tensor? Labels { get; }

    public void Dispose()
    {
        Features.Dispose();
        Targets.Dispose();
        Labels?.Dispose();
    }

    private static Tensor ToTensor(float[][] rows, Device device)
    {
        int width = rows.Length == 0 ? 0 : rows[0].Length;
        var flat = new float[(long)rows.Length * width];
        for (int i = 0; i < rows.Length; i++)
        {
            if (rows[i].Length != width)
                throw new ArgumentException($"Row {i} has {rows[i].Length} values, row 0 has {width}.");
            rows[i].CopyTo(flat, (long)i * width);
        }
        return torch.tensor(flat, [rows.Length, width]).to(device);
    }
}

/// <summary>
/// When a run with validation data stops by itself (<c>--epochs auto</c>): never before <paramref name="StepFloor"/> optimizer steps, then as soon
/// as the validation mean cosine has not improved for <paramref name="PatienceEpochs"/> epochs and at least <paramref name="PatienceSteps"/>
/// steps; the stage's step count is the cap. The best epoch's weights are kept, as in every run.
/// </summary>
internal sealed record EarlyStopping(long StepFloor, int PatienceEpochs, long PatienceSteps)
{
    /// <summary><c>--epochs auto</c>: at least 300 steps, patience 5 epochs and 150 steps.</summary>
    public static EarlyStopping Automatic { get; } = new(300, 5, 150);

    /// <summary>The cap of an automatic run, in optimizer steps.</summary>
    public const int StepCap = 10_000;

    /// <summary>
    /// The one stage of an automatic run over <paramref name="count"/> samples: with validation data, up to <see cref="StepCap"/>
    /// steps ended by <see cref="Automatic"/>; without, <paramref name="fixedEpochs"/> epochs or the step floor, whichever is longer.
    /// </summary>
    public static (TrainingStage Stage, EarlyStopping? Stopping) Schedule(int count, int batchSize, bool hasValidation, int fixedEpochs)
    {
        var all = Enumerable.Range(0, count).ToArray();
        if (hasValidation) return (new TrainingStage(all, Steps: StepCap), Automatic);
        long perPass = HeadsTrainingLoop.BatchesPerPass(count, batchSize);
        return (new TrainingStage(all, Epochs: (int)Math.Max(fixedEpochs, (Automatic.StepFloor + perPass - 1) / perPass)), null);
    }
}

/// <summary>The settings the loop needs (a subset of the trainer's options).</summary>
internal sealed record HeadsLoopSettings(
    float VocabularyWeight, float HuberWeight, HeadsOptimizer Optimizer, double LearningRate,
    int BatchSize, double WeightDecay, int Seed);

/// <summary>The result of <see cref="HeadsTrainingLoop.Run"/>: epoch summaries, the best epoch, and per-sample cosines when asked.</summary>
internal sealed record HeadsTrainingResult(
    IReadOnlyList<HeadsEpochSummary> Epochs,
    int BestEpoch,
    float[][]? TrainingSampleCosines)
{
    /// <summary>Optimizer steps taken over the whole schedule.</summary>
    public long Steps { get; init; }

    /// <summary>True when <see cref="EarlyStopping"/> ended the run before the schedule's end.</summary>
    public bool StoppedEarly { get; init; }
}

/// <summary>
/// The heads' training loop, kept separate from the estimator so a curriculum (paper §3, issue 5) can drive it:
/// it runs a schedule of <see cref="TrainingStage"/>s, after every epoch reports each training sample's cosine
/// (a row of <see cref="HeadsTrainingResult.TrainingSampleCosines"/> and the <c>onEpoch</c> callback) and keeps the
/// weights of the epoch with the best validation mean cosine (the last epoch without validation data).
/// Loss L = L1 + λ·L2 (Eq. 1; L2 is the standard BCE-with-logits, the reading of Eq. 3 that matches the official code).
/// Deterministic for a given seed: batches come from a seeded <see cref="Random"/>, and the caller seeds torch
/// before building the network while holding <see cref="TorchRandom.Gate"/> until training ends
/// (torch's generator is process-wide; dropout draws from it).
/// </summary>
internal static class HeadsTrainingLoop
{
    public const string ProgressStage = "training heads";

    /// <summary>
    /// Trains <paramref name="network"/> in place; on return it holds the best epoch's weights and is in eval mode.
    /// <paramref name="onEpoch"/> receives each epoch's summary and, when <paramref name="recordSampleCosines"/> is set,
    /// the cosine of every training sample (index = position in <paramref name="train"/>).
    /// </summary>
    public static HeadsTrainingResult Run(
        PromptHeadsNetwork network, HeadsLoopSettings settings, HeadsTensors train, HeadsTensors? validation,
        IReadOnlyList<TrainingStage> schedule, bool recordSampleCosines = false,
        Action<HeadsEpochSummary, float[]?>? onEpoch = null,
        IProgress<ProgressReport>? progress = null, CancellationToken cancellationToken = default, EarlyStopping? earlyStopping = null)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        if (schedule.Count == 0) throw new ArgumentException("The schedule has no stage.", nameof(schedule));
        int batchSize = settings.BatchSize;
        int totalEpochs = 0;
        foreach (var stage in schedule)
        {
            if ((stage.Epochs > 0) == (stage.Steps > 0))
                throw new ArgumentException("A training stage needs exactly one of Epochs or Steps to be positive.", nameof(schedule));
            if (stage.SampleIndices.Count == 0)
                throw new ArgumentException("A training stage has no samples.", nameof(schedule));
            foreach (int i in stage.SampleIndices)
                if ((uint)i >= (uint)train.Count) throw new ArgumentOutOfRangeException(nameof(schedule), $"Sample index {i} is outside 0..{train.Count - 1}.");
            totalEpochs += StagePasses(stage, batchSize);
        }

        var parameters = network.parameters().ToList();
        using var optimizer = settings.Optimizer == HeadsOptimizer.AdamW
            ? (optim.Optimizer)optim.AdamW(parameters, settings.LearningRate, weight_decay: settings.WeightDecay)
            : optim.Adam(parameters, settings.LearningRate, weight_decay: settings.WeightDecay);
        var random = new Random(settings.Seed);
        var epochs = new List<HeadsEpochSummary>();
        var sampleCosines = recordSampleCosines ? new List<float[]>() : null;
        Dictionary<string, Tensor>? best = null;
        int bestEpoch = 0;
        double bestCosine = double.NegativeInfinity;
        int epoch = 0;
        long steps = 0, stepsAtBest = 0;
        bool stoppedEarly = false;
        try
        {
            for (int s = 0; s < schedule.Count && !stoppedEarly; s++)
            {
                var stage = schedule[s];
                int[] order = stage.SampleIndices.ToArray();
                long stepsLeft = stage.Steps > 0 ? stage.Steps : (long)stage.Epochs * BatchesPerPass(order.Length, batchSize);
                while (stepsLeft > 0)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var clock = Stopwatch.StartNew();
                    random.Shuffle(order);
                    network.train();
                    double loss = 0, cosineLoss = 0, vocabularyLoss = 0;
                    int batches = 0;
                    for (int start = 0; start < order.Length && stepsLeft > 0; start += batchSize)
                    {
                        int count = Math.Min(batchSize, order.Length - start);
                        // A batch of one sample cannot be batch-normalised; skip the rare single-sample tail.
                        if (count < 2 && order.Length >= 2) break;
                        using var scope = torch.NewDisposeScope();
                        var index = torch.tensor(order.AsSpan(start, count).ToArray().Select(i => (long)i).ToArray(), device: train.Features.device);
                        var parts = Loss(network, settings, train.Features.index_select(0, index), train.Targets.index_select(0, index),
                            train.Labels?.index_select(0, index));
                        optimizer.zero_grad();
                        parts.Total.backward();
                        optimizer.step();
                        loss += parts.Total.item<float>();
                        cosineLoss += parts.Cosine.item<float>();
                        vocabularyLoss += parts.Vocabulary?.item<float>() ?? 0;
                        batches++;
                        stepsLeft--;
                        steps++;
                    }
                    epoch++;
                    double validationCosine = validation == null ? double.NaN : MeanCosine(network, validation.Features, validation.Targets);
                    float[]? cosines = recordSampleCosines ? SampleCosines(network, train.Features, train.Targets) : null;
                    if (cosines != null) sampleCosines!.Add(cosines);
                    var summary = new HeadsEpochSummary(epoch, s, loss / Math.Max(1, batches), cosineLoss / Math.Max(1, batches),
                        vocabularyLoss / Math.Max(1, batches), validationCosine, clock.Elapsed.TotalSeconds);
                    epochs.Add(summary);
                    onEpoch?.Invoke(summary, cosines);

                    bool improved = validation == null || validationCosine > bestCosine;
                    if (improved)
                    {
                        bestCosine = validationCosine;
                        bestEpoch = epoch;
                        stepsAtBest = steps;
                        if (validation != null) best = Snapshot(network, best);
                    }
                    // A run that stops by itself has no known number of epochs: the step cap is not one.
                    if (earlyStopping != null && validation != null)
                        progress?.Report(new ProgressReport(ProgressStage, epoch, 0, Describe(summary) + string.Create(CultureInfo.InvariantCulture,
                            $"; best epoch {bestEpoch}, stops after {earlyStopping.PatienceEpochs} epochs without gain")));
                    else
                        progress?.Report(new ProgressReport(ProgressStage, epoch, totalEpochs, Describe(summary)));
                    if (batches == 0) break;
                    if (earlyStopping != null && validation != null && stepsLeft > 0 && steps >= earlyStopping.StepFloor
                        && epoch - bestEpoch >= earlyStopping.PatienceEpochs && steps - stepsAtBest >= earlyStopping.PatienceSteps)
                    {
                        stoppedEarly = true;
                        break;
                    }
                }
            }
            if (best != null && bestEpoch != epoch)
                network.load_state_dict(best);
        }
        finally
        {
            if (best != null)
                foreach (var t in best.Values) t.Dispose();
        }
        network.eval();
        return new HeadsTrainingResult(epochs, bestEpoch, sampleCosines?.ToArray()) { Steps = steps, StoppedEarly = stoppedEarly };
    }

    /// <summary>The number of epochs (passes, the last one possibly partial) a stage runs.</summary>
    public static int StagePasses(TrainingStage stage, int batchSize)
    {
        int perPass = BatchesPerPass(stage.SampleIndices.Count, batchSize);
        return stage.Epochs > 0 ? stage.Epochs : (int)((stage.Steps + perPass - 1) / perPass);
    }

    /// <summary>Batches in one pass over <paramref name="count"/> samples (a single-sample tail is skipped).</summary>
    public static int BatchesPerPass(int count, int batchSize)
    {
        int full = count / batchSize, tail = count % batchSize;
        return Math.Max(1, full + (tail >= 2 || (tail == 1 && count == 1) ? 1 : 0));
    }

    /// <summary>The loss of a batch: total, the cosine part (Eq. 1) and the vocabulary BCE part (null for vanilla).</summary>
    public static (Tensor Total, Tensor Cosine, Tensor? Vocabulary) Loss(
        PromptHeadsNetwork network, HeadsLoopSettings settings, Tensor features, Tensor targets, Tensor? labels)
    {
        var (embedding, logits) = network.call(features);
        var cosine = (1 - nn.functional.cosine_similarity(embedding, targets, 1, 1e-8)).mean();
        var total = cosine;
        Tensor? vocabulary = null;
        if (logits is not null)
        {
            if (labels is null) throw new InvalidOperationException("The vocabulary head needs multi-hot labels.");
            vocabulary = nn.functional.binary_cross_entropy_with_logits(logits, labels);
            total = total + settings.VocabularyWeight * vocabulary;
        }
        if (settings.HuberWeight > 0)
        {
            var huber = nn.functional.huber_loss(nn.functional.normalize(embedding, 2, 1, 1e-12), targets, 1.0, nn.Reduction.Mean);
            total = total + settings.HuberWeight * huber;
        }
        return (total, cosine, vocabulary);
    }

    /// <summary>Cosine between the predicted and the target embedding of every row, in eval mode and without gradients.</summary>
    public static float[] SampleCosines(PromptHeadsNetwork network, Tensor features, Tensor targets, int batchSize = 1024)
    {
        bool wasTraining = network.training;
        network.eval();
        try
        {
            using var noGrad = torch.no_grad();
            var result = new float[features.shape[0]];
            for (long start = 0; start < result.Length; start += batchSize)
            {
                using var scope = torch.NewDisposeScope();
                long count = Math.Min(batchSize, result.Length - start);
                var (embedding, _) = network.call(features.narrow(0, start, count));
                var cos = nn.functional.cosine_similarity(embedding, targets.narrow(0, start, count), 1, 1e-8).cpu();
                cos.data<float>().CopyTo(result, (int)start);
            }
            return result;
        }
        finally
        {
            if (wasTraining) network.train();
        }
    }

    /// <summary>Mean of <see cref="SampleCosines"/>.</summary>
    public static double MeanCosine(PromptHeadsNetwork network, Tensor features, Tensor targets) =>
        features.shape[0] == 0 ? double.NaN : SampleCosines(network, features, targets).Average(c => (double)c);

    private static Dictionary<string, Tensor> Snapshot(PromptHeadsNetwork network, Dictionary<string, Tensor>? previous)
    {
        if (previous != null)
            foreach (var t in previous.Values) t.Dispose();
        using var noGrad = torch.no_grad();
        return network.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
    }

    private static string Describe(HeadsEpochSummary e)
    {
        var text = string.Create(CultureInfo.InvariantCulture,
            $"epoch {e.Epoch}: loss {e.Loss:F4} (cosine {e.CosineLoss:F4}, vocabulary {e.VocabularyLoss:F4})");
        return double.IsNaN(e.ValidationMeanCosine) ? text : text + string.Create(CultureInfo.InvariantCulture, $", validation cosine {e.ValidationMeanCosine:F4}");
    }
}
