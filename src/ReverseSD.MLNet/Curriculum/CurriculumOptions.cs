using System.Globalization;

namespace ReverseSD.MLNet.Curriculum;

/// <summary>
/// The paper's curriculum (§3) as options of the heads trainer: a preliminary run scores every training pair's difficulty,
/// then a fresh model trains for the same number of steps on easy, easy+medium, then all pairs.
/// </summary>
public sealed class CurriculumOptions
{
    /// <summary>Default share of the easy chunk when <see cref="CurriculumSplitting.Thresholds"/> has no explicit thresholds.</summary>
    public const double DefaultEasyShare = 0.6;

    /// <summary>Default share of the medium chunk (the hard chunk gets the remaining 0.1).</summary>
    public const double DefaultMediumShare = 0.3;

    /// <summary>How the pairs are cut into chunks; <see cref="CurriculumSplitting.None"/> trains the ordinary way.</summary>
    public CurriculumSplitting Splitting { get; set; } = CurriculumSplitting.None;

    /// <summary>Epochs of the preliminary (scoring) run E; null = the trainer's NumberOfEpochs.</summary>
    public int? PreliminaryEpochs { get; set; }

    /// <summary>How the per-epoch cosines are averaged (paper: plain mean; official code: improving epochs, weighted).</summary>
    public DifficultyWeighting Weighting { get; set; } = DifficultyWeighting.Mean;

    /// <summary>Which model scores a pair: the one trained on it (paper) or, out of fold, one that never saw it.</summary>
    public DifficultyScoring Scoring { get; set; } = DifficultyScoring.InSample;

    /// <summary>Folds of <see cref="DifficultyScoring.OutOfFold"/> scoring (default 5): each fold is scored by a model trained on the others.</summary>
    public int Folds { get; set; } = DefaultFolds;

    /// <summary>Default number of folds of out-of-fold scoring.</summary>
    public const int DefaultFolds = 5;

    /// <summary>Explicit easy threshold on difficulty (easy = difficulty ≤ it); set together with <see cref="MediumMax"/>.</summary>
    public double? EasyMax { get; set; }

    /// <summary>Explicit medium threshold on difficulty (hard = difficulty &gt; it); set together with <see cref="EasyMax"/>.</summary>
    public double? MediumMax { get; set; }

    /// <summary>Share of pairs in the easy chunk when the thresholds come from shares (default 0.6).</summary>
    public double EasyShare { get; set; } = DefaultEasyShare;

    /// <summary>Share of pairs in the medium chunk when the thresholds come from shares (default 0.3).</summary>
    public double MediumShare { get; set; } = DefaultMediumShare;

    /// <summary>Share of the total steps spent on each stage (easy, easy+medium, all); default equal thirds.</summary>
    public double[] StageFractions { get; set; } = [1 / 3.0, 1 / 3.0, 1 / 3.0];

    /// <summary>True when a curriculum is asked for.</summary>
    public bool Enabled => Splitting != CurriculumSplitting.None;

    /// <summary>Throws an <see cref="ArgumentOutOfRangeException"/> naming the first bad option ("Curriculum.X").</summary>
    internal void Validate()
    {
        string F(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        if (!Enum.IsDefined(Splitting)) throw Bad($"Curriculum.Splitting {Splitting} is not a splitting heuristic.");
        if (!Enum.IsDefined(Weighting)) throw Bad($"Curriculum.Weighting {Weighting} is not a difficulty weighting.");
        if (!Enum.IsDefined(Scoring)) throw Bad($"Curriculum.Scoring {Scoring} is not a difficulty scoring.");
        if (Folds < 2) throw Bad($"Curriculum.Folds must be at least 2; got {Folds}.");
        if (PreliminaryEpochs is < 1) throw Bad($"Curriculum.PreliminaryEpochs must be at least 1; got {PreliminaryEpochs}.");
        if (EasyMax.HasValue != MediumMax.HasValue)
            throw Bad("Curriculum.EasyMax and Curriculum.MediumMax must be set together (or neither, to use the shares).");
        if (EasyMax is double e && MediumMax is double m)
        {
            if (!double.IsFinite(e) || !double.IsFinite(m) || e > m)
                throw Bad($"Curriculum.EasyMax ({F(e)}) must be finite and not exceed Curriculum.MediumMax ({F(m)}).");
            if (Splitting == CurriculumSplitting.Thirds)
                throw Bad("Curriculum.EasyMax/MediumMax apply to the Thresholds splitting, not Thirds.");
        }
        if (!(EasyShare > 0 && EasyShare <= 1))
            throw Bad($"Curriculum.EasyShare must be in (0, 1]; got {F(EasyShare)}.");
        if (!(MediumShare >= 0) || EasyShare + MediumShare > 1 + 1e-9)
            throw Bad($"Curriculum.MediumShare must be >= 0 with Curriculum.EasyShare + Curriculum.MediumShare <= 1; got {F(EasyShare)} + {F(MediumShare)}.");
        if (StageFractions == null || StageFractions.Length != 3 || StageFractions.Any(f => !(f >= 0)) || Math.Abs(StageFractions.Sum() - 1) > 1e-6)
            throw Bad("Curriculum.StageFractions must be three non-negative numbers that sum to 1.");
    }

    /// <summary>The chunks for <paramref name="difficulty"/> under these options (Thirds when no curriculum is set, for analysis).</summary>
    internal (CurriculumChunks Chunks, double EasyMax, double MediumMax) Split(IReadOnlyList<double> difficulty)
    {
        if (Splitting == CurriculumSplitting.Thresholds)
        {
            var (easy, medium) = EasyMax is double e && MediumMax is double m
                ? (e, m)
                : CurriculumSplit.ThresholdsFromShares(difficulty, EasyShare, MediumShare);
            return (CurriculumSplit.ByThresholds(difficulty, easy, medium), easy, medium);
        }
        var chunks = CurriculumSplit.Thirds(difficulty);
        double Border(int[] chunk) => chunk.Length == 0 ? double.NaN : difficulty[chunk[^1]];
        return (chunks, Border(chunks.Easy), Border(chunks.Medium));
    }

    /// <summary>A copy (the trainer keeps its own).</summary>
    internal CurriculumOptions Clone() => new()
    {
        Splitting = Splitting, PreliminaryEpochs = PreliminaryEpochs, Weighting = Weighting, Scoring = Scoring, Folds = Folds, EasyMax = EasyMax, MediumMax = MediumMax,
        EasyShare = EasyShare, MediumShare = MediumShare, StageFractions = (double[])StageFractions.Clone(),
    };

    private static ArgumentOutOfRangeException Bad(string message) => new("options", message);
}
