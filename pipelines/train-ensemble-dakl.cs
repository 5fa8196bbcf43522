// The full system of the paper: an ensemble of backbones, each with heads trained with the curriculum (§3), combined
// (§4.9), adapted to the target domain with DAKL (§3, Eq. 5-7), then nearest prompts from a prompt bank (§4.10); one zip,
// then the PredictionEngine code an app uses. Run it from the repository root (it builds the library on first use):
//   dotnet run pipelines/train-ensemble-dakl.cs                                          # generates a small benchmark first
//   dotnet run pipelines/train-ensemble-dakl.cs -- DATA_DIR model.zip [EPOCHS] [BACKBONES]   # e.g. 20 resnet18,resnet18-288
// Edit it freely: the members, the combination rule, DAKL's r and grids, the curriculum, the prompt bank.
#:project ../src/ReverseSD.MLNet/ReverseSD.MLNet.csproj
#:property PublishAot=false

using System.Globalization;
using Microsoft.ML;
using Microsoft.ML.Data;
using ReverseSD.MLNet;
using ReverseSD.MLNet.Curriculum;
using ReverseSD.MLNet.Data;
using ReverseSD.MLNet.Ensemble;
using ReverseSD.MLNet.Heads;
using ReverseSD.MLNet.Pipeline;
using ReverseSD.MLNet.Retrieval;
using ReverseSD.MLNet.Text;

string dataDirectory = args.Length > 0 ? args[0] : Path.Combine("out", "pipeline-benchmark");
string modelPath = args.Length > 1 ? args[1] : Path.Combine("out", "pipeline-ensemble.zip");
int epochs = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 20;
string[] backbones = (args.Length > 3 ? args[3] : "resnet18,resnet18-160").Split(',');
if (!File.Exists(Path.Combine(dataDirectory, "train", ImageFolderDataset.MetadataFileName)))
{
    Console.WriteLine($"Generating a small benchmark in {dataDirectory} ...");
    SyntheticBenchmark.Generate(new SyntheticBenchmarkOptions { Train = 600, Validation = 100, Test = 100, Seed = 1 }, dataDirectory);
}

var mlContext = new MLContext(seed: 1);

// Every member: its backbone and the same heads (configuration 3, λ = 0.1) trained with the curriculum (easy -> all, equal thirds).
ReverseSdTrainingOptions Member(string backbone) => new()
{
    Backbone = backbone,
    VocabularySize = 1000,
    Heads = new PromptEmbeddingHeadsTrainer.Options
    {
        Configuration = HeadConfiguration.EmbeddingFeedsVocabulary,
        VocabularyWeight = 0.1f,
        NumberOfEpochs = epochs,
        Seed = 1,
        Curriculum = new CurriculumOptions { Splitting = CurriculumSplitting.Thirds },
    },
};

// Features are cached per backbone (DATA/.cache) and the prompts are embedded once for all members.
Console.WriteLine($"Training {backbones.Length} members + ensemble + DAKL ...");
using var ensemble = ReverseSdEnsemble.Train(mlContext, dataDirectory, new ReverseSdEnsembleOptions
{
    Members = backbones.Select(Member).ToList(),
    Combination = EnsembleCombination.Mean,
    UseDakl = true,                    // γ and α chosen on the validation split; DAKL kept only when it helps there
    DaklCentroids = 10_000,            // r, capped at the training set size
    KnnNeighbors = 10,
}, new Progress<ProgressReport>(p => { if (p.Done == p.Total) Console.WriteLine($"  {p.Stage} {p.Message}"); }));
foreach (var row in ensemble.Rows)
    Console.WriteLine($"  {row.Name,-60} {row.Metrics.MeanCosine:F4} ± {row.Metrics.StandardError:F4}");

// Nearest prompts of a prompt bank (here the training prompts) to the predicted embedding: the prompt text an app shows.
IDataView train = ImageFolderDataset.Load(mlContext, dataDirectory, "train");
IDataView bank = mlContext.Transforms.Text.EmbedSentences("PromptEmbedding", "Prompt").Fit(train).Transform(train);
var nearest = mlContext.Transforms.NearestPrompts(bank, numberOfPrompts: 3).Fit(ensemble.Model.Transform(train));
var model = new TransformerChain<ITransformer>(ensemble.Model, nearest);
Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(modelPath))!);
mlContext.Model.Save(model, train.Schema, modelPath);
Console.WriteLine($"saved {modelPath}: test mean cosine {ensemble.Test.MeanCosine:F4} ± {ensemble.Test.StandardError:F4} (n = {ensemble.Test.Count})");

// What an app does: load the zip (Microsoft.ML + ImageAnalytics + OnnxTransformer are enough) and score one image.
var appContext = new MLContext();
ITransformer loaded = appContext.Model.Load(modelPath, out _);
var engine = appContext.Model.CreatePredictionEngine<ModelInput, ModelOutput>(loaded);
string image = ImageFolderDataset.Read(dataDirectory, "test").Select(p => Path.Combine(dataDirectory, "test", p.FileName)).First();
var output = engine.Predict(new ModelInput { ImagePath = Path.GetFullPath(image) });
Console.WriteLine($"{Path.GetFileName(image)}: {output.PredictedEmbedding.Length}-d embedding; nearest prompts:");
for (int i = 0; i < output.NearestPrompts.Length; i++)
    Console.WriteLine($"  {output.NearestPromptScores[i]:F3}  {output.NearestPrompts[i]}");
(loaded as IDisposable)?.Dispose();
nearest.Dispose();

/// <summary>The model's input: the image file path.</summary>
public sealed class ModelInput
{
    public string ImagePath { get; set; } = "";
}

/// <summary>The model's outputs: the predicted prompt embedding and the nearest prompts of the bank with their cosines.</summary>
public sealed class ModelOutput
{
    public float[] PredictedEmbedding { get; set; } = [];

    public string[] NearestPrompts { get; set; } = [];

    public float[] NearestPromptScores { get; set; } = [];
}
