using System.Globalization;
using ReverseSD.MLNet.FineTuning;
using ReverseSD.MLNet.Heads;

namespace ReverseSD.MLNet.Pipeline;

public static partial class ReverseSdModel
{
    /// <summary>Below this many validation pairs the report warns that the best epoch (and an automatic stop) rests on a noisy estimate.</summary>
    internal const int SmallValidationSplit = 100;

    /// <summary>Adds how long the heads trained ("epochs" as run, steps, why they stopped) and a note when the validation split is tiny.</summary>
    internal static Dictionary<string, string> WithEpochsRun(Dictionary<string, string> report, PromptEmbeddingHeadsTrainer.Options heads,
        PromptEmbeddingHeadsTransformer trained, int validationPairs)
    {
        string Count(long v) => v.ToString(CultureInfo.InvariantCulture);
        report["epochs_run"] = Count(trained.TrainingHistory.Count);
        report["steps_run"] = Count(trained.TrainingSteps);
        if (heads.AutomaticEpochs && !heads.Curriculum.Enabled)
            report["epochs"] = validationPairs == 0
                ? $"auto (no validation split: {trained.TrainingHistory.Count} epochs, at least {heads.NumberOfEpochs} epochs and {EarlyStopping.Automatic.StepFloor} steps)"
                : trained.StoppedEarly
                    ? $"auto (stopped after {trained.TrainingHistory.Count} epochs, {trained.TrainingSteps} steps: no validation gain for {EarlyStopping.Automatic.PatienceEpochs} epochs and {EarlyStopping.Automatic.PatienceSteps} steps; best epoch {trained.BestEpoch})"
                    : $"auto (reached the cap of {EarlyStopping.StepCap} steps; best epoch {trained.BestEpoch})";
        else if (heads.AutomaticEpochs)
            report["epochs"] = $"{heads.NumberOfEpochs} (auto does not apply to a curriculum)";
        if (validationPairs is > 0 and < SmallValidationSplit)
            report["validation_note"] = $"the validation split has only {validationPairs} pairs: the best epoch{(heads.AutomaticEpochs ? " and the automatic stop rest" : " rests")} on a noisy estimate";
        return report;
    }

    /// <summary>Adds what the backbone's fine-tuning did (its best epoch, each epoch's validation cosine and loss, its times); unchanged without one.</summary>
    internal static Dictionary<string, string> WithFineTuning(Dictionary<string, string> report, FineTunedBackbone? tuned)
    {
        if (tuned == null) return report;
        string F(double v) => v.ToString("F4", CultureInfo.InvariantCulture);
        report["finetune_best_epoch"] = tuned.BestEpoch.ToString(CultureInfo.InvariantCulture);
        report["finetune_validation_cosines"] = string.Join(",", tuned.Epochs.Select(e => double.IsNaN(e.ValidationMeanCosine) ? "-" : F(e.ValidationMeanCosine)));
        report["finetune_losses"] = string.Join(",", tuned.Epochs.Select(e => F(e.Loss)));
        report["finetune_activation_seconds"] = tuned.ActivationSeconds.ToString("F1", CultureInfo.InvariantCulture);
        report["finetune_training_seconds"] = tuned.TrainingSeconds.ToString("F1", CultureInfo.InvariantCulture);
        if (tuned.SkippedImages > 0) report["finetune_skipped_images"] = tuned.SkippedImages.ToString(CultureInfo.InvariantCulture);
        return report;
    }
}
